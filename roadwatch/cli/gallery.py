"""``roadwatch gallery stats|export|import|prune``, ``roadwatch search IMAGE`` and ``bench gallery``."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from config import RoadwatchConfig
from roadwatch.cli.common import config_or_default
from roadwatch.errors import CliError

EXIT_OK = 0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_gallery_commands(commands: Any, bench: Any) -> None:
    """Register the gallery commands (``bench`` is the ``roadwatch bench`` sub-parser group)."""
    gallery = commands.add_parser("gallery", help="inspect and maintain the identity gallery")
    tools = gallery.add_subparsers(title="gallery commands", required=True)

    stats = tools.add_parser("stats", help="identities, exemplars, memory and age of the gallery")
    _common(stats)
    stats.set_defaults(handler=cmd_stats)

    export = tools.add_parser("export", help="write the whole gallery to a portable file")
    export.add_argument("file", type=Path)
    _common(export)
    export.set_defaults(handler=cmd_export)

    imp = tools.add_parser("import", help="enrol every identity of an exported file (new numbers)")
    imp.add_argument("file", type=Path)
    _common(imp)
    imp.set_defaults(handler=cmd_import)

    prune = tools.add_parser("prune", help="remove identities not seen for a while (whole, atomically)")
    prune.add_argument("--older-than", required=True, help="age such as 30d, 12h, 90m or seconds")
    prune.add_argument("--now", type=float, help="reference time (epoch seconds; default: now)")
    _common(prune)
    prune.set_defaults(handler=cmd_prune)

    search = commands.add_parser("search", help="find the vehicles of an image in the gallery (method 5)")
    search.add_argument("image", type=Path)
    search.add_argument("--top", type=int, default=10, help="results per vehicle")
    search.add_argument("--min-rank", type=float, default=1.08, help="rank threshold (rank = 2 - distance)")
    search.add_argument(
        "--max-distance", type=float, default=2.0, help="distance threshold of the similar set"
    )
    search.add_argument(
        "--category", choices=("type", "colour"), default="type", help="category of the filter"
    )
    _common(search)
    search.set_defaults(handler=cmd_search)

    b = bench.add_parser("gallery", help="enrolment, match latency, recall, restart and memory at scale")
    b.add_argument("--size", type=int, default=100_000, help="identities enrolled (floors: 1000000)")
    b.add_argument("--queries", type=int, default=2000, help="queries (half re-sightings, half strangers)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument(
        "--enrolling-s", type=float, default=10.0, help="seconds of matching while another worker enrols"
    )
    b.add_argument("--enrolling-rate", type=float, default=5000.0, help="that worker's enrolments per second")
    b.add_argument("--match-rate", type=float, default=500.0, help="matches per second meanwhile")
    b.add_argument("--config", type=Path, help="config file (gallery.nlist, nprobe, train_at)")
    b.add_argument("--workdir", type=Path, help="where the benchmark's Redis and index live (default: /tmp)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cmd_bench_gallery)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="config file (gallery section)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")


def _store(cfg: RoadwatchConfig) -> Any:
    from gallery.connect import open_redis
    from gallery.store import GalleryStore

    g = cfg.gallery
    client = open_redis(g)
    return GalleryStore(
        client, namespace=g.namespace, max_exemplars=g.max_exemplars, stream_max_len=g.stream_max_len
    )


def _emit(summary: dict[str, Any], as_json: bool, human: str) -> int:
    print(json.dumps(summary) if as_json else human)
    return EXIT_OK


def _guard(cfg: RoadwatchConfig, call: Any) -> Any:
    """Run ``call()``; an unreachable Redis or a bad file becomes one clear error line."""
    from gallery.connect import describe, guarded
    from gallery.portable import GalleryFileError
    from gallery.store import GalleryUnavailableError

    try:
        return guarded(describe(cfg.gallery), call)
    except (GalleryUnavailableError, GalleryFileError) as exc:
        raise CliError(str(exc)) from None


def cmd_stats(args: argparse.Namespace) -> int:
    """``roadwatch gallery stats``."""
    cfg = config_or_default(args.config)

    def work() -> dict[str, Any]:
        store = _store(cfg)
        ids = store.identities()
        libraries = ("fusion", "plate", "vehicle")
        last = store.last_seen(ids)
        return {
            "identities": len(ids),
            "libraries": {lib: store.library_size(lib) for lib in libraries},
            "changes": int(store.client.xlen(f"{store.prefix}changes")),
            "redis_mb": round(store.memory_bytes() / 2**20, 2),
            "oldest_last_seen": min(last) if last else None,
            "newest_last_seen": max(last) if last else None,
            "ivf_trained": {lib: store.centroids(lib) is not None for lib in libraries},
        }

    summary = _guard(cfg, work)
    human = f"{summary['identities']} identities; " + ", ".join(
        f"{lib} {n}" for lib, n in summary["libraries"].items()
    )
    return _emit(summary, args.json, human + f"; Redis {summary['redis_mb']} MB")


def cmd_export(args: argparse.Namespace) -> int:
    """``roadwatch gallery export FILE``."""
    from gallery.portable import export_gallery

    cfg = config_or_default(args.config)
    started = time.perf_counter()
    done = _guard(cfg, lambda: export_gallery(_store(cfg), args.file))
    summary = {
        "file": str(done.path),
        "identities": done.identities,
        "exemplars": done.exemplars,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return _emit(summary, args.json, f"exported {done.identities} identities to {done.path}")


def cmd_import(args: argparse.Namespace) -> int:
    """``roadwatch gallery import FILE``."""
    from gallery.portable import import_gallery

    cfg = config_or_default(args.config)
    if not args.file.is_file():
        raise CliError(f"{args.file}: no such file")
    started = time.perf_counter()
    mapping = _guard(cfg, lambda: import_gallery(_store(cfg), args.file))
    summary = {
        "file": str(args.file),
        "imported": len(mapping),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return _emit(summary, args.json, f"imported {len(mapping)} identities from {args.file}")


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or plain seconds, as seconds.

    Raises:
        CliError: Not such an age.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise CliError(f"--older-than: expected an age such as 30d, 12h, 90m or 45s, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def cmd_prune(args: argparse.Namespace) -> int:
    """``roadwatch gallery prune --older-than D``."""
    cfg = config_or_default(args.config)
    age = parse_age(args.older_than)
    cutoff = (args.now if args.now is not None else time.time()) - age
    removed = _guard(cfg, lambda: _store(cfg).prune(cutoff))
    summary = {"removed": len(removed), "cutoff": cutoff, "older_than_s": age}
    return _emit(summary, args.json, f"removed {len(removed)} identities last seen before {cutoff:.0f}")


def cmd_search(args: argparse.Namespace) -> int:
    """``roadwatch search IMAGE``: intent gate, detection, re-id, gallery search, method 5 filters."""
    import cv2

    from gallery.connect import open_gallery
    from roadwatch import app
    from roadwatch.search import search_image, search_summary

    if args.top < 1:
        raise CliError(f"--top must be >= 1, got {args.top}")
    cfg = config_or_default(args.config)
    if not args.image.is_file():
        raise CliError(f"{args.image}: no such file")
    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        raise CliError(f"{args.image}: not an image OpenCV can read")
    started = time.perf_counter()
    gate = app.intent_gate(cfg.detectors)
    detector = app.detector(cfg.detectors)  # the same builders as the pipeline's
    embedder = app.embedder(cfg.reid)
    reader = app.plate_reader(cfg.plates)

    def work() -> Any:
        gallery = open_gallery(cfg.gallery)
        return search_image(
            image,
            gate=gate,
            detector=detector,
            embedder=embedder,
            gallery=gallery,
            top=args.top,
            min_rank=args.min_rank,
            max_distance=args.max_distance,
            category=args.category,
            plate_size=cfg.reid.plate_input,
            reader=reader,
        )

    found = _guard(cfg, work)
    summary = {**search_summary(found), "seconds": round(time.perf_counter() - started, 3)}
    if args.json:
        print(json.dumps(summary))
    elif not found.is_vehicle:
        print(f"{args.image}: not a vehicle (p = {found.gate.vehicle_probability:.2f}); nothing searched")
    else:
        _print_hits(summary["vehicles"])
    return EXIT_OK


def _print_hits(vehicles: list[dict[str, Any]]) -> None:
    for n, vehicle in enumerate(vehicles):
        print(
            f"vehicle {n} at {vehicle['box']} ({vehicle['type']}, {vehicle['colour']}"
            f"{', plate ' + vehicle['plate'] if vehicle['plate'] else ''}): "
            f"{len(vehicle['results'])} results"
        )
        for hit in vehicle["results"]:
            seen = ", ".join(f"{s['camera']}@{s['time']:.0f}" for s in hit["last_seen"][:3])
            print(f"  #{hit['identity']} rank {hit['rank']:.3f} {hit['category']} {hit['plate']} {seen}")


def cmd_bench_gallery(args: argparse.Namespace) -> int:
    """``roadwatch bench gallery --size N``."""
    from gallery.bench import run_bench
    from gallery.gallery import IndexOptions

    if args.size < 1000 or args.queries < 2:
        raise CliError(f"--size must be >= 1000 and --queries >= 2 (got {args.size}, {args.queries})")
    for name in ("enrolling_s", "enrolling_rate", "match_rate"):
        if not getattr(args, name) > 0:
            raise CliError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    cfg = config_or_default(args.config)
    g = cfg.gallery
    summary = run_bench(
        args.size,
        queries=args.queries,
        seed=args.seed,
        enrolling_rate=args.enrolling_rate,
        enrolling_s=args.enrolling_s,
        match_rate=args.match_rate,
        options=IndexOptions(nlist=g.nlist, nprobe=g.nprobe, train_at=g.train_at, follow_s=g.follow_s),
        workdir=args.workdir,
        say=lambda text: print(f"bench gallery: {text}", file=sys.stderr, flush=True),
    )
    human = ", ".join(f"{k} {v}" for k, v in summary.items())
    return _emit(summary, args.json, human)
