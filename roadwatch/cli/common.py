"""What several command modules share: running the pipeline, reporting a run, signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from alerts.engine import AlertEngine
from alerts.schema import Alert
from config import CameraConfig, RoadwatchConfig, load_config
from gallery.gallery import Gallery
from gallery.store import GalleryUnavailableError
from roadwatch import app
from roadwatch.errors import CliError
from roadwatch.events import FanOut, JsonlEventSink, RedisStreamSink, Sighting
from roadwatch.flow import Flow
from roadwatch.pipeline import Pipeline, RunSummary, camera_event
from roadwatch.snapshots import SnapshotJanitor
from streams import CameraHealth, CameraReader, CameraState, FrameSource, build_readers

if TYPE_CHECKING:
    from roadwatch.api.service import ApiService

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def config_or_default(path: Path | None) -> RoadwatchConfig:
    """The config file's tree, or the defaults when no file is given."""
    return load_config(path) if path is not None else RoadwatchConfig()


def fresh_run(base: RoadwatchConfig, run_dir: Path) -> RoadwatchConfig:
    """``base`` with a fresh embedded gallery, the event log and the snapshots in ``run_dir``
    (emptied first): a scored run that no earlier run can influence."""
    shutil.rmtree(run_dir, ignore_errors=True)
    return base.model_copy(
        update={
            "gallery": base.gallery.model_copy(update={"data_dir": run_dir / "gallery"}),
            "outputs": base.outputs.model_copy(
                update={"events_path": run_dir / "events.jsonl", "snapshots_dir": run_dir / "snapshots"}
            ),
            "alerts": base.alerts.model_copy(
                update={"jsonl_path": run_dir / "alerts.jsonl", "spool_dir": run_dir / "spool"}
            ),
        }
    )


def run_pipeline(
    cfg: RoadwatchConfig,
    cameras: Sequence[CameraConfig],
    events_path: Path,
    *,
    append: bool,
    json_mode: bool,
    status_every: float | None = None,
    on_sighting: Callable[[Sighting], None] | None = None,
    on_frame: Callable[..., None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
    engine_out: list[AlertEngine] | None = None,
    janitor_out: list[SnapshotJanitor] | None = None,
    api: ApiService | None = None,
    stop: threading.Event | None = None,
    sources: Mapping[str, FrameSource] | None = None,
) -> tuple[RunSummary, int]:
    """Wire readers, stages, event log and alert engine; run until done or signalled.

    ``engine_out`` and ``janitor_out`` receive the alert engine and the snapshot janitor
    (closed when this returns), for their counters. ``api``, a started API service, is fed
    the run's frames, sightings, health and counters (and left running). ``sources``: sources
    built by the caller, by camera id, instead of the config's."""
    built = _flow(cfg, cameras)
    flow = built[0] if built is not None else None
    sink, engine, janitor = _outputs(cfg, built, events_path, append, on_alert)
    if engine is not None and engine_out is not None:
        engine_out.append(engine)
    if janitor is not None and janitor_out is not None:
        janitor_out.append(janitor)
    try:

        def on_state(health: CameraHealth) -> None:
            sink.write(camera_event(health))
            if health.state is CameraState.FAILED:
                print(f"roadwatch: error: camera {health.camera_id}: {health.last_error}", file=sys.stderr)

        bus, readers = build_readers(
            cameras, cfg.streams, on_state=on_state, synthetic=synthetic_source, sources=sources
        )
        sighting_callbacks = [c for c in (on_sighting,) if c is not None]
        frame_callbacks = [c for c in (on_frame,) if c is not None]
        if api is not None:
            api.attach(readers, bus, engine, flow)
            frame_callbacks.append(api.live.frame)
            sighting_callbacks += [api.live.sighting, api.metrics.sighting]

        def each_sighting(sighting: Sighting) -> None:
            for callback in sighting_callbacks:
                callback(sighting)

        stop = stop or threading.Event()
        with progress(readers, enabled=not json_mode and sys.stderr.isatty()) as bar:
            callbacks = [c for c in (bar, *frame_callbacks) if c is not None]

            def each_frame(*frame: Any) -> None:
                for callback in callbacks:
                    callback(*frame)

            pipeline = Pipeline(
                bus=bus,
                readers=readers,
                flow=flow,
                sink=sink,
                batch_frames=cfg.recognition.batch_frames,
                on_frame=each_frame if callbacks else None,
                on_sighting=each_sighting if sighting_callbacks else None,
            )
            with stop_on_signals(stop), status_lines(readers, stop, status_every):
                summary = pipeline.run(stop)
    finally:
        sink.close()
        if engine is not None:
            engine.close()
        if janitor is not None:
            janitor.close()
        if flow is not None:
            flow.close()
    return summary, sink.count


def _outputs(
    cfg: RoadwatchConfig,
    built: tuple[Flow, Gallery] | None,
    events_path: Path,
    append: bool,
    on_alert: Callable[[Alert], None] | None,
) -> tuple[JsonlEventSink | FanOut, AlertEngine | None, SnapshotJanitor | None]:
    """The event sink (the log, and the Redis event stream when configured), the alert engine
    and the snapshot janitor, started; none without stages. An alert engine that cannot start
    closes the sink and the stages before its error goes up."""
    sink: JsonlEventSink | FanOut = JsonlEventSink(events_path, append=append)
    if built is None:
        return sink, None, None
    identities = built[1]
    if cfg.outputs.events_stream:
        stream = RedisStreamSink(
            identities.store.client,
            f"{cfg.gallery.namespace}:events",
            max_len=cfg.outputs.events_stream_max_len,
        )
        sink = FanOut(sink, stream)
    try:
        engine = _alert_engine(cfg, identities, on_alert)
    except CliError:
        sink.close()
        built[0].close()
        raise
    return sink, engine, app.snapshot_janitor(cfg.outputs, identities.store.client, cfg.gallery.namespace)


def _flow(cfg: RoadwatchConfig, cameras: Sequence[CameraConfig]) -> tuple[Flow, Gallery] | None:
    """The stages and their gallery (None for ``detectors.vehicle.kind: none``); outputs that
    cannot work are refused first."""
    detection = app.detector(cfg.detectors)
    if detection is None:
        return None
    check_writable(cfg.outputs.snapshots_dir, "outputs.snapshots_dir")
    if cfg.alerts.enabled and not cfg.outputs.events_stream:
        raise CliError(
            "alerts.enabled needs outputs.events_stream: true (the alert engine reads the "
            "sighting stream); or set alerts.enabled: false"
        )
    reid = app.embedder(cfg.reid)
    try:
        identities = app.gallery(cfg.gallery)
    except GalleryUnavailableError as exc:
        raise CliError(str(exc)) from None
    built = app.stages(
        detection=detection,
        reid=reid,
        identities=identities,
        tracking=cfg.tracking,
        recognition=cfg.recognition,
        reid_cfg=cfg.reid,
        gallery_cfg=cfg.gallery,
        links=cfg.links,
        outputs=cfg.outputs,
        reader=app.plate_reader(cfg.plates),
        colours=app.colour_namer(cfg.detectors),
        still=app.still_frames(cfg.detectors.skip_still, cameras),
    )
    return app.flow(built, cfg.recognition), identities


def _alert_engine(
    cfg: RoadwatchConfig, identities: Gallery, on_alert: Callable[[Alert], None] | None
) -> AlertEngine | None:
    """The alert engine when alerts are on (they need the event stream, checked by :func:`_flow`)."""
    if not cfg.alerts.enabled:
        return None
    return app.alert_engine(cfg.alerts, identities, cfg.gallery.namespace, links=cfg.links, on_alert=on_alert)


def check_writable(folder: Path | None, name: str) -> None:
    """Refuse to start when ``folder`` cannot be created or written (a clear error, not a
    snapshot lost per sighting).

    Raises:
        CliError: Naming the field and the reason.
    """
    if folder is None:
        return
    probe = folder / f".roadwatch-probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"{name}: {folder} cannot be written: {exc.strerror or exc}") from None


def synthetic_source(camera: CameraConfig) -> FrameSource:
    from synth.source import synthetic_source  # imported on demand: rendering needs Pillow and fonts

    return synthetic_source(camera)


def report(
    summary: RunSummary,
    events: int,
    events_path: Path,
    *,
    json_mode: bool,
    fail_on_camera: bool = True,
    extra: dict[str, Any] | None = None,
) -> int:
    """Print a run's summary (one JSON object with ``--json``); the exit status."""
    failed = [c for c in summary.cameras if c.state is CameraState.FAILED]
    if json_mode:
        print(
            json.dumps(
                {**summary.to_dict(), "events": events, "events_path": str(events_path), **(extra or {})}
            )
        )
    else:
        print(
            f"{summary.frames_processed}/{summary.frames_read} frames processed, "
            f"{summary.frames_dropped} dropped, {summary.seconds:.2f} s ({summary.fps:.1f} fps); "
            f"{events} events -> {events_path}"
        )
    return EXIT_FAILED if failed and fail_on_camera else EXIT_OK


@contextmanager
def progress(readers: Sequence[CameraReader], *, enabled: bool) -> Iterator[Callable[..., None] | None]:
    """A tqdm bar on a terminal; its total appears once the recordings have opened."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(unit="frame", file=sys.stderr, dynamic_ncols=True) as bar:

        def on_frame(*_: Any) -> None:
            if bar.total is None:
                counts = [r.frame_count for r in readers]
                if all(c is not None for c in counts):
                    bar.total = sum(c for c in counts if c is not None)
            bar.update(1)

        yield on_frame


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM sets ``stop`` (clean shutdown); a second one interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(f"roadwatch: {signal.Signals(signum).name}: stopping ...", file=sys.stderr)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def status_lines(
    readers: Sequence[CameraReader], stop: threading.Event, every: float | None
) -> Iterator[None]:
    """Log one health line per camera every ``every`` seconds (live runs)."""
    if not every or every <= 0:
        yield
        return
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every) and not stop.is_set():
            for reader in readers:
                h = reader.health()
                print(
                    f"roadwatch: camera {h.camera_id}: {h.state.value} {h.fps:.1f} fps, "
                    f"read {h.frames_read}, dropped {h.frames_dropped}, reconnects {h.reconnects}"
                    + (f", last error: {h.last_error}" if h.last_error else ""),
                    file=sys.stderr,
                )

    thread = threading.Thread(target=loop, name="status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def load_scenario_spec(scenario: str, duration: float | None = None) -> Any:
    """A bundled scenario (or a scenario YAML file), its duration optionally replaced.

    Raises:
        CliError: ``duration`` is not positive (a bad scenario raises the loader's error).
    """
    from synth.scenario import load_scenario

    spec = load_scenario(scenario)
    if duration is not None:
        if duration <= 0:
            raise CliError(f"--duration must be > 0, got {duration}")
        spec = spec.model_copy(update={"duration_s": duration})
    return spec
