"""Build sources and readers from the config (the only place streams read config)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from config.schema import CameraConfig, StreamsConfig
from streams.backoff import Backoff
from streams.bus import FrameBus
from streams.reader import CameraReader, StateListener
from streams.sources import FrameSource, ImageFolderSource, StreamSource, VideoFileSource

SyntheticFactory = Callable[[CameraConfig], FrameSource]


class SourceUnavailableError(Exception):
    """A configured camera kind has no implementation in this installation."""


def build_source(
    camera: CameraConfig, streams: StreamsConfig, synthetic: SyntheticFactory | None = None
) -> FrameSource:
    """Create the source for one camera.

    Args:
        camera: The camera's config.
        streams: Settings shared by all streams.
        synthetic: Factory for ``kind: synthetic`` cameras (the synthetic world plugs in here).

    Raises:
        SourceUnavailableError: The kind needs a component that is not installed.
    """
    if camera.kind in ("rtsp", "http"):
        assert camera.url is not None  # guaranteed by CameraConfig validation
        return StreamSource(
            camera.url,
            open_timeout_s=camera.open_timeout_s,
            read_timeout_s=camera.read_timeout_s,
            transport=streams.rtsp_transport,
        )
    if camera.kind == "file":
        assert camera.path is not None
        return VideoFileSource(camera.path, pace=camera.pace, loop=camera.loop)
    if camera.kind == "folder":
        assert camera.path is not None
        return ImageFolderSource(camera.path, fps=camera.folder_fps, pace=camera.pace)
    if synthetic is None:
        raise SourceUnavailableError(f"camera '{camera.id}': kind 'synthetic' needs the synthetic world")
    return synthetic(camera)


def build_readers(
    cameras: Sequence[CameraConfig],
    streams: StreamsConfig,
    *,
    on_state: StateListener | None = None,
    synthetic: SyntheticFactory | None = None,
    sources: Mapping[str, FrameSource] | None = None,
) -> tuple[FrameBus, list[CameraReader]]:
    """One bus and one reader per enabled camera (``sources``: ones the caller built itself, by
    camera id, used instead of the config's; the pipeline benchmark's misbehaving cameras).

    Raises:
        SourceUnavailableError: A camera's kind cannot be served.
    """
    enabled = [c for c in cameras if c.enabled]
    bus = FrameBus((c.id, c.queue_size) for c in enabled)
    readers = [
        CameraReader(
            camera_id=c.id,
            source=sources[c.id] if sources and c.id in sources else build_source(c, streams, synthetic),
            bus=bus,
            backoff=Backoff(
                initial_s=c.reconnect.initial_s,
                max_s=c.reconnect.max_s,
                multiplier=c.reconnect.multiplier,
                jitter=c.reconnect.jitter,
            ),
            fps_cap=c.fps_cap,
            on_state=on_state,
        )
        for c in enabled
    ]
    return bus, readers
