"""``roadwatch demo``: the synthetic toll road through the whole pipeline, scored against its truth."""

from __future__ import annotations

import argparse
import json
import sys
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config import CameraConfig
from config.schema import CameraLink, ReidConfig
from roadwatch.app import REID_MODELS, reid_model_paths
from roadwatch.cli.common import EXIT_OK, config_or_default, fresh_run, run_pipeline
from roadwatch.errors import CliError
from roadwatch.events import Sighting

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
    demo.add_argument("--json", action="store_true", help="print a JSON summary last")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """``roadwatch demo``: render the toll road, run the whole pipeline over it, score the result."""
    from roadwatch.report import identity_sheet
    from roadwatch.score import describe, load_truth, score
    from synth.export import export_world
    from synth.scenario import load_scenario
    from synth.world import simulate

    if args.seconds <= 0:
        raise CliError(f"--seconds must be > 0, got {args.seconds}")
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, got {args.seed}")
    spec = load_scenario("toll-road").model_copy(update={"duration_s": args.seconds})
    world_dir = args.dir / f"toll-road-seed{args.seed}-{args.seconds:g}s"
    videos = [world_dir / "videos" / f"{c.id}.mp4" for c in spec.cameras]
    truths = [world_dir / "truth" / f"{c.id}.json" for c in spec.cameras]  # written after each video
    if not all(v.is_file() and v.stat().st_size > 0 for v in videos) or not all(t.is_file() for t in truths):
        print(f"rendering the synthetic toll road (seed {args.seed}) into {world_dir} ...", file=sys.stderr)
        export_world(simulate(spec, args.seed), world_dir, parts=frozenset({"videos"}))
    run_dir = args.dir / "run"
    base = config_or_default(args.config)
    cfg = fresh_run(base, run_dir).model_copy(
        update={"links": base.links or _scenario_links(spec), "reid": _site_models(base.reid)}
    )
    cameras = tuple(CameraConfig(id=v.stem, kind="file", path=v) for v in videos)
    seen: list[Sighting] = []

    def on_sighting(sighting: Sighting) -> None:
        seen.append(sighting)
        if not args.json and sighting.status == "final":
            print(_sighting_line(sighting), flush=True)

    events = cfg.outputs.events_path
    summary, _ = run_pipeline(cfg, cameras, events, append=False, json_mode=True, on_sighting=on_sighting)
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


def _site_models(reid: ReidConfig) -> ReidConfig:
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
