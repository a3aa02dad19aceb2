"""``roadwatch demo``: the synthetic toll road through the whole pipeline, scored against its truth."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerts.engine import AlertEngine
from alerts.schema import Alert
from config import AlertsConfig, CameraConfig, RoadwatchConfig
from config.alerts import TollRuleConfig, WatchlistEntry, WebhookConfig
from config.schema import CameraLink, ReidConfig
from roadwatch.app import REID_MODELS, reid_model_paths
from roadwatch.cli.common import EXIT_OK, config_or_default, fresh_run, run_pipeline, stop_on_signals
from roadwatch.errors import CliError
from roadwatch.events import Sighting
from roadwatch.receiver import Receiver

SITE_MODELS = REID_MODELS / "toll-road"  # the toll road's site models (docs/REID.md)

if TYPE_CHECKING:
    from synth.scenario import ScenarioSpec


def add_demo_command(commands: Any) -> None:
    """``roadwatch demo``."""
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
    demo.add_argument(
        "--receiver",
        action="store_true",
        help="start a local webhook receiver, post every alert to it, report alert_latency_p95_ms",
    )
    demo.add_argument(
        "--receiver-outage",
        metavar="START,SECONDS",
        help="with --receiver: take the receiver down START s into the run for SECONDS s",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="serve the dashboard and API during the run and keep them up over the results (Ctrl-C stops)",
    )
    demo.add_argument("--host", help="with --serve: bind address (default: api.host, 127.0.0.1)")
    demo.add_argument("--port", type=int, help="with --serve: TCP port (default: api.port, 8080; 0: any)")
    demo.add_argument("--json", action="store_true", help="print a JSON summary last")
    demo.set_defaults(handler=cmd_demo)


@dataclass(frozen=True, slots=True)
class DemoSite:
    """The demo's toll road, rendered, and the config that runs it (fresh gallery in ``run/``)."""

    cfg: RoadwatchConfig
    cameras: tuple[CameraConfig, ...]
    world_dir: Path
    world: dict[str, Any]
    watched: dict[str, Any] | None


def demo_site(
    folder: Path,
    seed: int,
    seconds: float,
    base: RoadwatchConfig,
    receiver: Receiver | None = None,
    run: str = "run",
) -> DemoSite:
    """Render the toll road (unless an earlier run left it whole) and build its run's config:
    site re-id models, the scenario's camera links, the toll rule from the cameras' roles, one
    vehicle of the world on the watchlist, ``receiver`` as a webhook."""
    from synth.scenario import load_scenario

    spec = load_scenario("toll-road").model_copy(update={"duration_s": seconds})
    world_dir = folder / f"toll-road-seed{seed}-{seconds:g}s"
    videos = rendered(spec, seed, world_dir)
    world = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    watched = _watched_vehicle(world, seed)
    cfg = fresh_run(base, folder / run)
    cfg = cfg.model_copy(
        update={
            "links": base.links or _scenario_links(spec),
            "reid": site_models(base.reid),
            "alerts": _demo_alerts(cfg.alerts, spec, watched, receiver),
        }
    )
    cameras = tuple(CameraConfig(id=v.stem, kind="file", path=v) for v in videos)
    return DemoSite(cfg, cameras, world_dir, world, watched)


def cmd_demo(args: argparse.Namespace) -> int:
    """``roadwatch demo``: render the toll road, run the whole pipeline over it, score the result."""
    from roadwatch.report import identity_sheet
    from roadwatch.score import describe, load_truth, score, score_alerts

    if args.seconds <= 0:
        raise CliError(f"--seconds must be > 0, got {args.seconds}")
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, got {args.seed}")
    outage = _outage(args.receiver_outage, args.receiver)
    receiver = Receiver().start() if args.receiver else None
    site = demo_site(args.dir, args.seed, args.seconds, config_or_default(args.config), receiver)
    cfg, cameras, world_dir, world, watched = site.cfg, site.cameras, site.world_dir, site.world, site.watched
    run_dir = args.dir / "run"
    seen: list[Sighting] = []
    raised: list[Alert] = []

    def on_sighting(sighting: Sighting) -> None:
        seen.append(sighting)
        if not args.json and sighting.status == "final":
            print(_sighting_line(sighting), flush=True)

    def on_alert(alert: Alert) -> None:
        raised.append(alert)
        if not args.json:
            print(f"  ALERT {alert.severity:<8} {alert.message}", flush=True)

    events = cfg.outputs.events_path
    engines: list[AlertEngine] = []
    api = None
    if args.serve:
        from roadwatch.cli.serve import announce, start_api, with_address

        cfg = with_address(cfg, args.host, args.port)
        try:
            api = start_api(cfg, [c.id for c in cameras])
        except BaseException:
            if receiver is not None:
                receiver.stop()
            raise
        announce(api, file=sys.stderr if args.json else sys.stdout)
    try:
        with _receiver_outage(receiver, outage):
            summary, _ = run_pipeline(
                cfg,
                cameras,
                events,
                append=False,
                json_mode=True,
                on_sighting=on_sighting,
                on_alert=on_alert,
                engine_out=engines,
                api=api,
            )
    except BaseException:
        if api is not None:
            api.close()
        raise
    finally:
        if receiver is not None:
            receiver.stop()
    truth = load_truth(world_dir / "truth")
    figures = score(seen, truth)
    toll = cfg.alerts.toll
    figures |= score_alerts(
        raised,
        {s.id: s for s in seen if s.status == "final"},
        truth,
        world,
        exit_cameras=frozenset(toll.exit_cameras) if toll is not None else frozenset(),
        watched=watched["id"] if watched is not None else None,
    )
    figures |= _delivery_figures(raised, receiver)
    if engines:
        figures["alert_engine"] = engines[0].stats()
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
    if api is not None:
        result["dashboard"] = api.url
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(_summary_text(result, _plate(watched)) + f"; alerts: {cfg.alerts.jsonl_path}", flush=True)
    if api is not None:
        _keep_serving(api, json_mode=args.json)
    return EXIT_OK


def _keep_serving(api: Any, *, json_mode: bool) -> None:
    """Serve the finished demo's results until SIGINT/SIGTERM."""
    out = sys.stderr if json_mode else sys.stdout
    print(f"dashboard still up over the results: {api.dashboard_link}  (Ctrl-C stops)", file=out, flush=True)
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            while not stop.wait(0.5):
                pass
    finally:
        api.close()


def rendered(spec: ScenarioSpec, seed: int, world_dir: Path) -> list[Path]:
    """The world's videos, rendered first unless an earlier demo left them whole."""
    from synth.export import export_world
    from synth.world import simulate

    videos = [world_dir / "videos" / f"{c.id}.mp4" for c in spec.cameras]
    truths = [world_dir / "truth" / f"{c.id}.json" for c in spec.cameras]  # written after each video
    if not all(v.is_file() and v.stat().st_size > 0 for v in videos) or not all(t.is_file() for t in truths):
        print(f"rendering the synthetic toll road (seed {seed}) into {world_dir} ...", file=sys.stderr)
        export_world(simulate(spec, seed), world_dir, parts=frozenset({"videos"}))
    return videos


def _summary_text(r: Mapping[str, Any], plate: str) -> str:
    """The demo's closing lines for people (``r``: the ``--json`` result)."""
    latency = r.get("alert_latency_p95_ms")
    return (
        f"{r['frames']} frames in {r['seconds']} s ({r['fps']} fps); "
        f"{r['events']} sightings of {r['passes_truth']} passes "
        f"({r['events_per_pass']} per pass); {r['identities']} identities for "
        f"{r['identities_truth']} vehicles; re-id precision {r['reid_precision']}, "
        f"recall {r['reid_recall']}\n"
        f"escapes: {r['escape_alerts_correct']} of {r['escapes_truth']} alerted, "
        f"{r['escape_alerts_false']} false; watchlist ({plate}): "
        f"{r['watchlist_alerts_correct']} of {r['watchlist_truth']} passes alerted, "
        f"{r['watchlist_alerts_false']} false"
        + (f"; webhook p95 latency {latency} ms" if latency is not None else "")
        + f"\ncontact sheet: {r['contact_sheet']}; events: {r['events_path']}"
    )


def site_models(reid: ReidConfig) -> ReidConfig:
    """The re-id networks trained for the toll road's three cameras (``reid/models/toll-road/``,
    other seeds of the same cameras added to the training data), unless the config names
    models of its own: what an operator does for a site (docs/REID.md, Site models)."""
    if reid.vehicle_model is not None or reid.plate_model is not None:
        return reid
    vehicle, plate = reid_model_paths(reid, SITE_MODELS)
    return reid.model_copy(update={"vehicle_model": vehicle, "plate_model": plate})


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
    plate = s.plate_text or "-"
    return (
        f"{s.first_time:7.1f}-{s.last_time:.1f} s  {s.camera:<8} track {s.track_id:<4} "
        f"{s.vehicle_type or '?':<10} {plate:<9} {who}"
    )


def _watched_vehicle(world: Mapping[str, Any], seed: int) -> dict[str, Any] | None:
    """The vehicle the demo puts on the watchlist: drawn (by the seed) among those seen at two
    cameras or more with a plate, as a stolen car's plate would be listed without knowing how
    well it reads."""
    cameras: dict[int, set[str]] = {}
    for s in world["sightings"]:
        cameras.setdefault(int(s["identity"]), set()).add(str(s["camera"]))
    fleet = {int(v["id"]): v for v in world["fleet"]}
    candidates = sorted(i for i, seen in cameras.items() if len(seen) >= 2 and fleet[i].get("plate_text"))
    if not candidates:
        return None
    import numpy as np

    return dict(fleet[candidates[int(np.random.default_rng([seed, 26]).integers(len(candidates)))]])


def _plate(vehicle: Mapping[str, Any] | None) -> str:
    return str(vehicle["plate_text"]) if vehicle is not None else "none"


def _demo_alerts(
    alerts: AlertsConfig, spec: ScenarioSpec, watched: Mapping[str, Any] | None, receiver: Receiver | None
) -> AlertsConfig:
    """The config's alerts, or the scenario's: the toll rule from the cameras' roles, the
    watched vehicle's plate on the watchlist, and the local receiver as a webhook."""
    update: dict[str, Any] = {}
    if alerts.toll is None:
        roles = {r: tuple(c.id for c in spec.cameras if c.role == r) for r in ("entry", "gate", "exit")}
        update["toll"] = TollRuleConfig(
            entry_cameras=roles["entry"], gate_cameras=roles["gate"], exit_cameras=roles["exit"]
        )
    if not alerts.watchlist and watched is not None:
        plate = str(watched["plate_text"])
        update["watchlist"] = (WatchlistEntry(plate=plate, note="demo: stolen", severity="critical"),)
    if receiver is not None:
        update["webhooks"] = (*alerts.webhooks, WebhookConfig(url=receiver.url, timeout_s=2.0))
    return alerts.model_copy(update=update)


def _outage(value: str | None, receiver: bool) -> tuple[float, float] | None:
    """``START,SECONDS`` of ``--receiver-outage``."""
    if value is None:
        return None
    if not receiver:
        raise CliError("--receiver-outage needs --receiver")
    try:
        start, seconds = (float(v) for v in value.split(","))
    except ValueError:
        raise CliError(f"--receiver-outage must be START,SECONDS (two numbers), got {value!r}") from None
    if start < 0 or seconds <= 0:
        raise CliError(f"--receiver-outage: START must be >= 0 and SECONDS > 0, got {value!r}")
    return start, seconds


@contextmanager
def _receiver_outage(receiver: Receiver | None, outage: tuple[float, float] | None) -> Iterator[None]:
    """Take the receiver down for a while during the run (then up again, same port)."""
    if receiver is None or outage is None:
        yield
        return
    done = threading.Event()

    def cycle() -> None:
        if done.wait(outage[0]):
            return
        receiver.stop()
        print(f"roadwatch demo: webhook receiver down for {outage[1]:g} s", file=sys.stderr)
        done.wait(outage[1])
        receiver.start()
        print("roadwatch demo: webhook receiver back", file=sys.stderr)

    thread = threading.Thread(target=cycle, name="outage", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _delivery_figures(raised: list[Alert], receiver: Receiver | None) -> dict[str, Any]:
    """What the receiver got: every alert once, in order, and how long each took from the
    sighting that raised it being written to its arrival (p95, ms)."""
    if receiver is None:
        return {"alert_latency_p95_ms": None}
    import numpy as np

    got = receiver.received
    ids = [r.body.get("id") for r in got]
    sent = [a.id for a in raised]
    latencies = [
        (r.at - float(r.body["rule"]["raised_by"]["wall_time"])) * 1000
        for r in got
        if r.body.get("rule", {}).get("raised_by", {}).get("wall_time") is not None
    ]
    first = [i for k, i in enumerate(ids) if i not in ids[:k]]
    return {
        "alert_latency_p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "webhook_received": len(got),
        "webhook_missing": len(set(sent) - set(ids)),
        "webhook_duplicates": len(ids) - len(set(ids)),
        "webhook_in_order": first == [i for i in sent if i in set(ids)],
    }
