"""``roadwatch config check``, ``replay`` and ``run``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from alerts.engine import AlertEngine
from alerts.schema import Alert
from config import CameraConfig, RoadwatchConfig, load_config, redact_url
from config.schema import CAMERA_ID_PATTERN
from roadwatch.cli.common import EXIT_OK, report, run_pipeline
from roadwatch.errors import CliError
from roadwatch.snapshots import SnapshotJanitor


def add_run_commands(commands: Any) -> None:
    """``config check``, ``replay`` and ``run``."""
    config = commands.add_parser("config", help="work with config files")
    config_commands = config.add_subparsers(title="config commands", required=True)
    check = config_commands.add_parser("check", help="validate a config and print it resolved")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the resolved config as JSON")
    check.set_defaults(handler=cmd_config_check)

    replay = commands.add_parser("replay", help="replay a video or image folder through the whole pipeline")
    replay.add_argument("path", type=Path, help="video file or folder of images")
    replay.add_argument("--config", type=Path, help="config file (its cameras are ignored)")
    replay.add_argument("--camera-id", help="camera id for the events (default: file name)")
    replay.add_argument("--events", type=Path, help="event log to write (default: from config)")
    replay.add_argument("--pace", choices=("fast", "native"), default="fast", help="replay speed")
    replay.add_argument("--annotate", type=Path, help="write the footage with tracks and identities (.mp4)")
    replay.add_argument("--json", action="store_true", help="print a JSON summary last")
    replay.set_defaults(handler=cmd_replay)

    run = commands.add_parser("run", help="run the configured cameras until stopped")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--events", type=Path, help="event log (default: outputs.events_path)")
    run.add_argument("--status-every", type=float, default=10.0, help="seconds between health lines")
    run.add_argument("--json", action="store_true", help="print a JSON summary last")
    run.set_defaults(handler=cmd_run)


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
    annotator = None
    if args.annotate is not None:
        from roadwatch.annotate import Annotator

        annotator = Annotator(args.annotate, _fps_of(args.path))
    engines: list[AlertEngine] = []
    janitors: list[SnapshotJanitor] = []
    try:
        summary, sink_count = run_pipeline(
            cfg,
            (camera,),
            events,
            append=False,
            json_mode=args.json,
            on_sighting=None if annotator is None else annotator.sighting,
            on_frame=None if annotator is None else annotator.frame,
            on_alert=None if args.json else _print_alert,
            engine_out=engines,
            janitor_out=janitors,
        )
    finally:
        if annotator is not None:
            annotator.close()
    extra = (
        {} if annotator is None else {"annotated": str(args.annotate), "annotated_frames": annotator.frames}
    )
    extra |= _service_figures(engines, janitors)
    return report(summary, sink_count, events, json_mode=args.json, extra=extra)


def _print_alert(alert: Alert) -> None:
    print(f"ALERT {alert.severity:<8} {alert.message}", flush=True)


def _service_figures(engines: list[AlertEngine], janitors: list[SnapshotJanitor]) -> dict[str, Any]:
    """The alert engine's and the snapshot janitor's counters (``alerts``, ``snapshots``)."""
    figures: dict[str, Any] = {}
    if engines:
        figures["alerts"] = engines[0].stats()
    if janitors:
        figures["snapshots"] = janitors[0].stats()
    return figures


def _fps_of(path: Path) -> float:
    """A video's frame rate (10 for image folders and files that do not say)."""
    import cv2

    if path.is_dir():
        return 10.0
    capture = cv2.VideoCapture(str(path))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    return fps if 0 < fps < 1000 else 10.0


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
    engines: list[AlertEngine] = []
    janitors: list[SnapshotJanitor] = []
    api = None
    if cfg.api.enabled:
        from roadwatch.cli.serve import announce, start_api

        api = start_api(cfg, [c.id for c in cameras])
        announce(api)
    try:
        summary, sink_count = run_pipeline(
            cfg,
            cameras,
            events,
            append=True,
            json_mode=args.json,
            status_every=args.status_every,
            on_alert=None if args.json else _print_alert,
            engine_out=engines,
            janitor_out=janitors,
            api=api,
        )
    finally:
        if api is not None:
            api.close()
    extra = _service_figures(engines, janitors)
    return report(summary, sink_count, events, json_mode=args.json, fail_on_camera=False, extra=extra)


def add_pipeline_bench(bench: Any) -> None:
    """``roadwatch bench pipeline``."""
    b = bench.add_parser("pipeline", help="N synthetic 720p cameras in real time, against the plain pipeline")
    b.add_argument("--cameras", default="4", help="camera count, or a list: 1,2,4,8 (default 4)")
    b.add_argument("--fps", type=float, default=5.0, help="frames per second of each camera (default 5)")
    b.add_argument("--seconds", type=float, default=30.0, help="seconds of footage per run (default 30)")
    b.add_argument(
        "--plain-frames",
        type=int,
        default=150,
        help="frames the plain pipeline is timed on, spread over the footage",
    )
    b.add_argument(
        "--bad",
        choices=("fast", "4k", "burst"),
        help="the last camera misbehaves: twice its frame rate, 3840×2160, or its frames in 2 s bursts",
    )
    b.add_argument("--dir", type=Path, default=Path("var/bench"), help="where the footage is rendered (once)")
    b.add_argument("--config", type=Path, help="config file (its cameras, gallery and outputs are replaced)")
    b.add_argument("--json", action="store_true", help="print a JSON summary last")
    b.set_defaults(handler=cmd_bench_pipeline)


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    """``roadwatch bench pipeline --cameras 1,2,4,8``: see :mod:`roadwatch.perfbench`."""
    from roadwatch.cli.common import config_or_default
    from roadwatch.perfbench import run_bench

    try:
        counts = [int(c) for c in str(args.cameras).split(",")]
    except ValueError:
        raise CliError(f"--cameras must be a number or a list like 1,2,4,8, got {args.cameras!r}") from None
    if any(c < 1 or c > 64 for c in counts):
        raise CliError("--cameras: each count must be 1-64")
    if not 0 < args.fps <= 60 or args.seconds <= 0 or args.plain_frames < 2:
        raise CliError("--fps must be in (0, 60], --seconds > 0 and --plain-frames >= 2")
    results = run_bench(
        config_or_default(args.config),
        args.dir,
        counts,
        fps=args.fps,
        seconds=args.seconds,
        plain_frames=args.plain_frames,
        bad=args.bad,
    )
    for r in results:
        if not args.json:
            print(
                f"{r['cameras']} cameras × {args.fps:g} fps: {r['fps_processed']} of {r['fps_offered']} "
                f"frames/s, {r['frames_dropped']} dropped ({r['dropped_percent']} %), latency p50/p95 "
                f"{r['latency_p50_ms']}/{r['latency_p95_ms']} ms, CPU {r['cpu_percent']} %, "
                f"{r['rss_mb']} MB; "
                f"capacity {r['fast_fps']} frames/s vs plain {r['plain_fps']} ({r['speedup_vs_plain']}×), "
                f"plain on ONNX Runtime {r['plain_onnx_fps']} ({r['speedup_vs_plain_onnx']}×)"
            )
            for c in r["per_camera"]:
                print(
                    f"  {c['camera']}: {c['frames_dropped']} of {c['frames_offered']} dropped "
                    f"({c['dropped_percent']} %), latency p95 {c['latency_p95_ms']} ms"
                )
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"runs": results}))
    return EXIT_OK
