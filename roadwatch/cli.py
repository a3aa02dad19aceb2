"""The ``roadwatch`` command line.

Every command that computes results accepts ``--json`` and then prints one JSON object as
the last line of stdout. Problems a user can fix print one line ``roadwatch: error: ...``
on stderr and exit with status 2 (bad arguments or config) or 1 (a source failed).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import yaml

from config import CameraConfig, ConfigError, RoadwatchConfig, load_config, redact_url
from config.schema import CAMERA_ID_PATTERN, CameraLink
from gallery.store import GalleryUnavailableError
from roadwatch import __version__, app
from roadwatch.detect_cmd import add_detect_commands
from roadwatch.errors import CliError
from roadwatch.events import FanOut, JsonlEventSink, RedisStreamSink, Sighting
from roadwatch.gallery_cmd import add_gallery_commands
from roadwatch.pipeline import Pipeline, RunSummary, camera_event
from roadwatch.reid_cmd import add_reid_commands
from roadwatch.synth_cmd import add_synth_commands
from streams import (
    CameraHealth,
    CameraReader,
    CameraState,
    FrameSource,
    SourceUnavailableError,
    build_readers,
)

if TYPE_CHECKING:
    from synth.scenario import ScenarioSpec

log = logging.getLogger("roadwatch")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roadwatch`` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="roadwatch: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"roadwatch: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return EXIT_OK
    except (CliError, SourceUnavailableError, OSError) as exc:
        print(f"roadwatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roadwatch", description="Traffic camera analytics.")
    parser.add_argument("--version", action="version", version=f"roadwatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(title="commands")

    config = commands.add_parser("config", help="work with config files")
    config_commands = config.add_subparsers(title="config commands", required=True)
    check = config_commands.add_parser("check", help="validate a config and print it resolved")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the resolved config as JSON")
    check.set_defaults(handler=cmd_config_check)

    replay = commands.add_parser("replay", help="replay a video file or image folder")
    replay.add_argument("path", type=Path, help="video file or folder of images")
    replay.add_argument("--config", type=Path, help="config file (its cameras are ignored)")
    replay.add_argument("--camera-id", help="camera id for the events (default: file name)")
    replay.add_argument("--events", type=Path, help="event log to write (default: from config)")
    replay.add_argument("--pace", choices=("fast", "native"), default="fast", help="replay speed")
    replay.add_argument("--json", action="store_true", help="print a JSON summary last")
    replay.set_defaults(handler=cmd_replay)

    run = commands.add_parser("run", help="run the configured cameras until stopped")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--events", type=Path, help="event log (default: outputs.events_path)")
    run.add_argument("--status-every", type=float, default=10.0, help="seconds between health lines")
    run.add_argument("--json", action="store_true", help="print a JSON summary last")
    run.set_defaults(handler=cmd_run)

    benches = add_synth_commands(commands)
    groups = add_reid_commands(commands, benches)
    add_detect_commands(commands, groups, benches)
    add_gallery_commands(commands, benches)

    demo = commands.add_parser(
        "demo",
        help="render the synthetic toll road, run the whole pipeline over it, score it against the truth",
    )
    demo.add_argument("--dir", type=Path, default=Path("var/demo"), help="where the demo writes")
    demo.add_argument("--seed", type=int, default=7, help="world seed (the default models trained on 0-6)")
    demo.add_argument("--seconds", type=float, default=60.0, help="seconds of synthetic footage")
    demo.add_argument(
        "--config", type=Path, help="config file (its cameras, gallery and outputs are replaced)"
    )
    demo.add_argument("--json", action="store_true", help="print a JSON summary last")
    demo.set_defaults(handler=cmd_demo)
    return parser


def cmd_config_check(args: argparse.Namespace) -> int:
    """``roadwatch config check FILE``: print the resolved config or the problems."""
    cfg = load_config(args.file)
    resolved = _printable(cfg)
    if args.json:
        print(json.dumps(resolved))
    else:
        print(yaml.safe_dump(resolved, sort_keys=False).rstrip())
        print(f"# {args.file}: valid ({len(cfg.cameras)} cameras)", file=sys.stderr)
    return EXIT_OK


def _printable(cfg: RoadwatchConfig) -> dict[str, Any]:
    """The config as plain data, secrets and URL passwords masked."""
    data: dict[str, Any] = cfg.model_dump(mode="json")
    for camera in data["cameras"]:
        if camera.get("url"):
            camera["url"] = redact_url(camera["url"])
    if data["gallery"].get("redis_url"):
        data["gallery"]["redis_url"] = redact_url(data["gallery"]["redis_url"])
    return data


def cmd_replay(args: argparse.Namespace) -> int:
    """``roadwatch replay PATH``: every frame of a recording through the pipeline."""
    cfg = load_config(args.config) if args.config else RoadwatchConfig()
    camera_id = args.camera_id or _camera_id_from(args.path)
    if not re.fullmatch(CAMERA_ID_PATTERN, camera_id):
        raise CliError(f"--camera-id: must be 1-64 letters, digits, '_', '.', '-' (got {camera_id!r})")
    kind = "folder" if args.path.is_dir() else "file"
    camera = CameraConfig(id=camera_id, kind=kind, path=args.path, pace=args.pace)
    events = args.events or cfg.outputs.events_path
    summary, sink_count = _run_pipeline(cfg, (camera,), events, append=False, json_mode=args.json)
    return _report(summary, sink_count, events, json_mode=args.json)


def _camera_id_from(path: Path) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", path.stem or path.name).strip("-._")[:64]
    return cleaned or "replay"


def cmd_run(args: argparse.Namespace) -> int:
    """``roadwatch run --config F``: read live cameras until SIGINT/SIGTERM or all end."""
    cfg = load_config(args.config)
    cameras = tuple(c for c in cfg.cameras if c.enabled)
    if not cameras:
        raise CliError(f"{args.config}: no enabled cameras to run")
    events = args.events or cfg.outputs.events_path
    summary, sink_count = _run_pipeline(
        cfg, cameras, events, append=True, json_mode=args.json, status_every=args.status_every
    )
    return _report(summary, sink_count, events, json_mode=args.json, fail_on_camera=False)


def cmd_demo(args: argparse.Namespace) -> int:
    """``roadwatch demo``: render the toll road, run the whole pipeline over it, score the result."""
    import shutil

    from roadwatch.report import identity_sheet
    from roadwatch.score import describe, load_truth, score
    from synth.export import export_world
    from synth.scenario import load_scenario
    from synth.world import simulate

    if args.seconds <= 0:
        raise CliError(f"--seconds must be > 0, got {args.seconds}")
    spec = load_scenario("toll-road").model_copy(update={"duration_s": args.seconds})
    world_dir = args.dir / f"toll-road-seed{args.seed}-{args.seconds:g}s"
    videos = [world_dir / "videos" / f"{c.id}.mp4" for c in spec.cameras]
    if not all(v.is_file() and v.stat().st_size > 0 for v in videos):
        print(f"rendering the synthetic toll road (seed {args.seed}) into {world_dir} ...", file=sys.stderr)
        export_world(simulate(spec, args.seed), world_dir, parts=frozenset({"videos"}))
    run_dir = args.dir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh gallery every time
    base = load_config(args.config) if args.config else RoadwatchConfig()
    cfg = base.model_copy(
        update={
            "links": base.links or _scenario_links(spec),
            "gallery": base.gallery.model_copy(update={"data_dir": run_dir / "gallery"}),
            "outputs": base.outputs.model_copy(
                update={"events_path": run_dir / "events.jsonl", "snapshots_dir": run_dir / "snapshots"}
            ),
        }
    )
    cameras = tuple(CameraConfig(id=v.stem, kind="file", path=v) for v in videos)
    seen: list[Sighting] = []

    def on_sighting(sighting: Sighting) -> None:
        seen.append(sighting)
        if not args.json and sighting.status == "final":
            print(_sighting_line(sighting), flush=True)

    events = cfg.outputs.events_path
    summary, _ = _run_pipeline(cfg, cameras, events, append=False, json_mode=True, on_sighting=on_sighting)
    truth = load_truth(world_dir / "truth")
    figures = score(seen, truth)
    if args.verbose:
        for line in describe(seen, truth):
            print(line, file=sys.stderr)
    sheet = identity_sheet(run_dir / "identities.png", [s for s in seen if s.status == "final"])
    result = {
        "frames": summary.frames_processed,
        **figures,
        "seconds": round(summary.seconds, 3),
        "fps": round(summary.fps, 2),
        "stage_ms": dict(summary.stage_ms),
        "seed": args.seed,
        "events_path": str(events),
        "contact_sheet": str(sheet),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['frames']} frames in {result['seconds']} s ({result['fps']} fps); "
            f"{figures['events']} sightings of {figures['passes_truth']} passes "
            f"({figures['events_per_pass']} per pass); {figures['identities']} identities for "
            f"{figures['identities_truth']} vehicles; re-id precision {figures['reid_precision']}, "
            f"recall {figures['reid_recall']}\ncontact sheet: {sheet}; events: {events}"
        )
    return EXIT_OK


def _scenario_links(spec: ScenarioSpec) -> tuple[CameraLink, ...]:
    """The roads of a scenario as camera links, the way an operator would write them down: each
    pair of consecutive cameras on a route, travel times from a quarter of the route's mean to
    twice it plus 5 s (a sighting's time is its best view's, not the moment it passes a line)."""
    links: dict[tuple[str, str], CameraLink] = {}
    for route in spec.routes:
        for (a, b), mean in zip(pairwise(route.cameras), route.travel_s, strict=False):
            links.setdefault(
                (a, b), CameraLink(from_camera=a, to_camera=b, min_s=0.25 * mean, max_s=2 * mean + 5)
            )
    return tuple(links.values())


def _sighting_line(s: Sighting) -> str:
    """One readable line for a final sighting."""
    who = "no identity" + (f" ({s.error})" if s.error else "")
    if s.identity is not None:
        who = f"identity {s.identity} ({'new' if s.new else 'known'}, {s.library} {s.score:.2f})"
    return (
        f"{s.first_time:7.1f}-{s.last_time:.1f} s  {s.camera:<8} track {s.track_id:<4} "
        f"{s.vehicle_type or '?':<10} {who}"
    )


def _run_pipeline(
    cfg: RoadwatchConfig,
    cameras: Sequence[CameraConfig],
    events_path: Path,
    *,
    append: bool,
    json_mode: bool,
    status_every: float | None = None,
    on_sighting: Callable[[Sighting], None] | None = None,
) -> tuple[RunSummary, int]:
    """Wire readers, stages and event log; run until done or signalled."""
    detection = app.detector(cfg.detectors)
    flow = None
    if detection is not None:
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
        )
        flow = app.flow(built, cfg.recognition)
    sink: JsonlEventSink | FanOut = JsonlEventSink(events_path, append=append)
    if flow is not None and cfg.outputs.events_stream:
        stream = RedisStreamSink(
            identities.store.client,
            f"{cfg.gallery.namespace}:events",
            max_len=cfg.outputs.events_stream_max_len,
        )
        sink = FanOut(sink, stream)
    try:

        def on_state(health: CameraHealth) -> None:
            sink.write(camera_event(health))
            if health.state is CameraState.FAILED:
                print(f"roadwatch: error: camera {health.camera_id}: {health.last_error}", file=sys.stderr)

        bus, readers = build_readers(cameras, cfg.streams, on_state=on_state, synthetic=_synthetic_source)
        stop = threading.Event()
        with _progress(readers, enabled=not json_mode and sys.stderr.isatty()) as on_frame:
            pipeline = Pipeline(
                bus=bus,
                readers=readers,
                flow=flow,
                sink=sink,
                batch_frames=cfg.recognition.batch_frames,
                on_frame=on_frame,
                on_sighting=on_sighting,
            )
            with _stop_on_signals(stop), _status_lines(readers, stop, status_every):
                summary = pipeline.run(stop)
    finally:
        sink.close()
        if flow is not None:
            flow.close()
    return summary, sink.count


def _synthetic_source(camera: CameraConfig) -> FrameSource:
    from synth.source import synthetic_source  # imported on demand: rendering needs Pillow and fonts

    return synthetic_source(camera)


def _report(
    summary: RunSummary, events: int, events_path: Path, *, json_mode: bool, fail_on_camera: bool = True
) -> int:
    failed = [c for c in summary.cameras if c.state is CameraState.FAILED]
    if json_mode:
        print(json.dumps({**summary.to_dict(), "events": events, "events_path": str(events_path)}))
    else:
        print(
            f"{summary.frames_processed}/{summary.frames_read} frames processed, "
            f"{summary.frames_dropped} dropped, {summary.seconds:.2f} s ({summary.fps:.1f} fps); "
            f"{events} events -> {events_path}"
        )
    return EXIT_FAILED if failed and fail_on_camera else EXIT_OK


@contextmanager
def _progress(readers: Sequence[CameraReader], *, enabled: bool) -> Iterator[Callable[..., None] | None]:
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
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
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
def _status_lines(
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
