"""``roadwatch synth`` and ``roadwatch bench synth``: the synthetic world on the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from roadwatch.cli.common import load_scenario_spec
from roadwatch.errors import CliError

EXIT_OK = 0


def add_synth_commands(commands: Any) -> Any:
    """Register ``synth`` and ``bench`` on the top-level sub-command parser; return the bench group."""
    synth = commands.add_parser("synth", help="render a synthetic multi-camera world with ground truth")
    synth.add_argument("--scenario", required=True, help="bundled name (toll-road, city) or YAML file")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--seed", type=int, default=0, help="world seed (same seed, same bytes)")
    synth.add_argument("--duration", type=float, help="override the scenario's seconds of footage")
    synth.add_argument("--preview", type=Path, help="also write a contact sheet PNG here")
    synth.add_argument(
        "--decor", action="store_true", help="add text-like hard negatives (lettering, signs, on-screen date)"
    )
    synth.add_argument(
        "--parts",
        default="videos,detection,reid,plates",
        help="comma-separated outputs to write besides the truth: videos, detection, reid, plates",
    )
    synth.add_argument("--json", action="store_true", help="print a JSON summary last")
    synth.set_defaults(handler=cmd_synth)

    bench = commands.add_parser("bench", help="benchmarks (print their figures)")
    benches = bench.add_subparsers(title="benchmarks", required=True)
    render = benches.add_parser("synth", help="render speed of one synthetic camera on one core")
    render.add_argument("--scenario", default="toll-road")
    render.add_argument("--camera", default="entry")
    render.add_argument("--frames", type=int, default=300)
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--json", action="store_true")
    render.set_defaults(handler=cmd_bench_synth)
    return benches


def cmd_synth(args: argparse.Namespace) -> int:
    """Simulate, render and export a world."""
    from tqdm import tqdm

    from synth.export import ALL_PARTS, export_world
    from synth.world import simulate

    parts = frozenset(p.strip() for p in args.parts.split(",") if p.strip())
    if not parts or not parts <= ALL_PARTS:
        raise CliError(f"--parts: choose from {', '.join(sorted(ALL_PARTS))} (got {args.parts!r})")
    spec = load_scenario_spec(args.scenario, args.duration)
    if args.decor:
        spec = spec.model_copy(update={"decor": True})
    world = simulate(spec, args.seed)
    total = round(spec.duration_s * spec.fps) * len(spec.cameras)
    with tqdm(
        total=total, unit="frame", file=sys.stderr, disable=args.json or not sys.stderr.isatty()
    ) as bar:
        summary = export_world(
            world,
            args.out,
            preview=args.preview,
            parts=parts,
            on_frame=lambda: bar.update(1),
        )
    result = {**summary.to_dict(), "scenario": spec.name, "seed": args.seed, "out": str(args.out)}
    if args.json:
        print(json.dumps(result))
    else:
        counts = f"{summary.frames} frames, {summary.vehicles} vehicles, {summary.sightings} sightings"
        print(f"{spec.name}: {counts}, {summary.escapes} escapes in {summary.seconds:.1f} s -> {args.out}")
    return EXIT_OK


def cmd_bench_synth(args: argparse.Namespace) -> int:
    """Render frames of one camera on one thread; print frames/s."""
    import cv2

    from synth.render import CameraRenderer
    from synth.world import simulate

    cv2.setNumThreads(1)
    spec = load_scenario_spec(args.scenario)
    renderer = CameraRenderer(simulate(spec, args.seed), args.camera)
    renderer.render(0)  # warm caches
    started = time.perf_counter()
    for index in range(args.frames):
        renderer.render(index % renderer.frame_count)
    seconds = time.perf_counter() - started
    result = {
        "scenario": spec.name,
        "camera": args.camera,
        "resolution": list(renderer.spec.resolution),
        "frames": args.frames,
        "fps": round(args.frames / seconds, 1),
        "ms_per_frame": round(seconds / args.frames * 1000, 2),
    }
    print(
        json.dumps(result) if args.json else f"{result['fps']} frames/s ({result['ms_per_frame']} ms/frame)"
    )
    return EXIT_OK
