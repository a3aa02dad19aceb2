"""``roadwatch serve``: the cameras, the alert engine, the HTTP API and the dashboard in one
process, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from config import RoadwatchConfig, load_config
from roadwatch.cli.common import EXIT_OK, config_or_default, run_pipeline, stop_on_signals
from roadwatch.errors import CliError


def add_serve_command(commands: Any, bench: Any) -> None:
    """``roadwatch serve`` and ``roadwatch bench api``."""
    serve = commands.add_parser("serve", help="run the cameras with the HTTP API and the dashboard")
    serve.add_argument("--config", type=Path, required=True)
    serve.add_argument("--host", help="bind address (default: api.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default: api.port; 0: any free port)")
    serve.add_argument("--events", type=Path, help="event log (default: outputs.events_path)")
    serve.add_argument("--json", action="store_true", help="print a JSON summary last, when stopped")
    serve.set_defaults(handler=cmd_serve)

    b = bench.add_parser(
        "api", help="the API's cost to frame processing (live-stream clients) and first render"
    )
    b.add_argument("--clients", type=int, default=50, help="live-stream clients held open (default 50)")
    b.add_argument("--seconds", type=float, default=30.0, help="seconds of the demo's footage per run")
    b.add_argument("--repeats", type=int, default=2, help="runs of each kind, alternated (default 2)")
    b.add_argument(
        "--dir", type=Path, default=Path("var/demo"), help="where the demo's footage is (rendered once)"
    )
    b.add_argument("--config", type=Path, help="config file (its cameras, gallery and outputs are replaced)")
    b.add_argument("--json", action="store_true", help="print a JSON summary last")
    b.set_defaults(handler=cmd_bench_api)


def with_address(cfg: RoadwatchConfig, host: str | None, port: int | None) -> RoadwatchConfig:
    """``cfg`` with the command line's host and port (checked like the config's)."""
    update: dict[str, Any] = {}
    if host is not None:
        update["host"] = host
    if port is not None:
        if not 0 <= port <= 65535:
            raise CliError(f"--port must be 0-65535, got {port}")
        update["port"] = port
    return cfg.model_copy(update={"api": cfg.api.model_copy(update=update)}) if update else cfg


def start_api(cfg: RoadwatchConfig, camera_ids: list[str]) -> Any:
    """A started :class:`~roadwatch.api.service.ApiService` with an empty live view."""
    from detectors.stage import CLASSES
    from roadwatch.api.live import LiveView
    from roadwatch.api.metrics import Metrics
    from roadwatch.api.service import ApiService
    from roadwatch.logjson import use_json_logs

    if cfg.api.log_json:
        use_json_logs()
    live = LiveView(camera_ids, fps=cfg.api.live_fps, class_names=CLASSES)
    return ApiService(cfg, live=live, metrics=Metrics()).start()


def announce(api: Any, file: Any = sys.stderr) -> None:
    """Print where the dashboard is (with the token when it was made up at start)."""
    print(f"roadwatch: dashboard and API at {api.url} (API docs: {api.url}api/docs)", file=file, flush=True)
    if api.token_made:
        print(
            f"roadwatch: open {api.dashboard_link}  (token made up for this run; set api.token or "
            "ROADWATCH_API_TOKEN to keep one)",
            file=file,
            flush=True,
        )
    else:
        print(
            "roadwatch: token: api.token / ROADWATCH_API_TOKEN (open the dashboard with ?token=...)",
            file=file,
            flush=True,
        )


def cmd_serve(args: argparse.Namespace) -> int:
    """``roadwatch serve --config F``."""
    cfg = with_address(load_config(args.config), args.host, args.port)
    cameras = tuple(c for c in cfg.cameras if c.enabled)
    events = args.events or cfg.outputs.events_path
    api = start_api(cfg, [c.id for c in cameras])
    announce(api)
    stop = threading.Event()
    summary = None
    try:
        with stop_on_signals(stop):
            if cameras:
                summary, _ = run_pipeline(
                    cfg,
                    cameras,
                    events,
                    append=True,
                    json_mode=args.json,
                    status_every=None,
                    api=api,
                    stop=stop,
                )
                if not stop.is_set():
                    print("roadwatch: every camera has ended; still serving (Ctrl-C stops)", file=sys.stderr)
            while not stop.wait(0.5):
                pass
    finally:
        api.close()
    if args.json:
        out: dict[str, Any] = {"url": api.url}
        if summary is not None:
            out |= summary.to_dict()
        print(json.dumps(out))
    return EXIT_OK


def cmd_bench_api(args: argparse.Namespace) -> int:
    """``roadwatch bench api``: see :mod:`roadwatch.api.bench`."""
    from roadwatch.api.bench import run_bench

    if args.clients < 1 or args.repeats < 1 or args.seconds <= 0:
        raise CliError("--clients and --repeats must be >= 1 and --seconds > 0")
    figures = run_bench(
        config_or_default(args.config),
        args.dir,
        seconds=args.seconds,
        clients=args.clients,
        repeats=args.repeats,
    )
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['clients']} live-stream clients: {figures['slowdown_percent']} % slower frames "
            f"({figures['fps_with_clients']} vs {figures['fps_without_clients']} frames/s), each client got "
            f">= {figures['events_per_client_min']} events; first render {figures['first_render_ms']} ms, "
            f"camera tiles {figures['tiles_ms']} ms"
        )
    return EXIT_OK
