"""``roadwatch train plates``, ``eval plates`` and ``read``: the plate recogniser and plates in photos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roadwatch.cli.common import config_or_default
from roadwatch.errors import CliError
from roadwatch.progress import step_progress

if TYPE_CHECKING:
    from detectors.stage import DetectionStage
    from plates.reader import FormattedReader

EXIT_OK = 0


def add_plate_commands(commands: Any, groups: dict[str, Any], bench: Any) -> None:
    """Register ``train plates``, ``eval plates``, ``bench plates`` and ``read``."""
    read = commands.add_parser("read", help="read the plates of a photo")
    read.add_argument("photo", type=Path)
    read.add_argument("--config", type=Path, help="config file (detectors, plates)")
    read.add_argument("--engine", choices=("roadwatch", "ppocr"), help="override plates.engine")
    read.add_argument("--json", action="store_true", help="print a JSON object last")
    read.set_defaults(handler=cmd_read)

    ev = groups["eval"].add_parser("plates", help="detect and read plates end to end against labels")
    ev.add_argument("--data", type=Path, required=True, help="labelled photos or a roadwatch synth folder")
    ev.add_argument(
        "--format", choices=("openalpr", "synthetic"), default="openalpr", help="how DATA is labelled"
    )
    ev.add_argument("--every", type=int, default=10, help="synthetic: every n-th frame of each camera")
    ev.add_argument("--config", type=Path, help="config file (detectors, plates)")
    ev.add_argument("--engine", choices=("roadwatch", "ppocr"), help="override plates.engine")
    ev.add_argument("--misreads", action="store_true", help="list each plate read wrong or not found")
    ev.add_argument("--json", action="store_true", help="print a JSON object last")
    ev.set_defaults(handler=cmd_eval_plates)

    b = bench.add_parser("plates", help="reading time per plate of each engine (reader only, no detection)")
    b.add_argument("--plates", type=int, default=200, help="synthetic plates to read (one and two rows)")
    b.add_argument("--batch", type=int, default=8, help="plates per call for the batched figure")
    b.add_argument("--engine", choices=("roadwatch", "ppocr"), action="append", help="engines (default both)")
    b.add_argument("--config", type=Path, help="config file (plates section: threads, models)")
    b.add_argument("--json", action="store_true", help="print a JSON object last")
    b.set_defaults(handler=cmd_bench_plates)

    train = groups["train"].add_parser("plates", help="train the plate recogniser on synthetic plates")
    train.add_argument("--config", type=Path, help="config file (plates.train section)")
    train.add_argument("--out", type=Path, default=Path("runs/plates"), help="checkpoint, curves, ONNX")
    train.add_argument("--steps", type=int, help="override plates.train.steps")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--json", action="store_true", help="print a JSON summary last")
    train.set_defaults(handler=cmd_train_plates)


def cmd_train_plates(args: argparse.Namespace) -> int:
    """Train, plot the curves, export ``reader.onnx`` and check it agrees with torch."""
    from plates.synthetic import latin_fonts
    from plates.train import PlateTrainingError, export_recogniser, parity, train_plates
    from roadwatch.report import line_plot

    cfg = config_or_default(args.config).plates.train
    if args.steps is not None:
        if args.steps < 1:
            raise CliError(f"--steps must be at least 1, got {args.steps}")
        cfg = cfg.model_copy(update={"steps": args.steps})
    with step_progress(cfg.steps, quiet=args.json) as on_step:
        try:
            result, net = train_plates(args.out, cfg, resume=args.resume, on_step=on_step)
        except PlateTrainingError as exc:
            raise CliError(str(exc)) from None
    history = result.history
    line_plot(
        args.out / "loss.png",
        {"ctc": [(h["step"], h["total"]) for h in history]},
        title="plate recogniser: CTC loss",
        x_label="step",
        y_label="loss",
    )
    model = export_recogniser(net, args.out / "reader.onnx")
    summary = {
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "val_exact": round(result.val_exact, 4),
        "val_samples": cfg.val_samples,
        "final_ctc": round(history[-1]["total"], 4) if history else None,
        "fonts": [p.name for p in latin_fonts()],
        "model": str(model),
        "parity_max_abs_diff": parity(net, model),
    }
    print(
        json.dumps(summary)
        if args.json
        else f"trained {result.steps} steps in {result.seconds:.0f} s, "
        f"held-out exact {result.val_exact:.3f} -> {model}"
    )
    return EXIT_OK


def _reader_and_detector(args: argparse.Namespace) -> tuple[FormattedReader, DetectionStage, str]:
    """The configured reader (``--engine`` overriding), the detector, and the engine's name."""
    from roadwatch.app import detector, plate_reader

    cfg = config_or_default(args.config)
    plates = cfg.plates if args.engine is None else cfg.plates.model_copy(update={"engine": args.engine})
    found = detector(cfg.detectors)
    if found is None:
        raise CliError("detectors.vehicle.kind is none: nothing finds the plates to read")
    reader = plate_reader(plates)
    if reader is None:
        raise CliError("plates.engine is none: choose roadwatch or ppocr (--engine)")
    return reader, found, plates.engine


def cmd_read(args: argparse.Namespace) -> int:
    """Print each readable plate of a photo: text, confidence, region, box."""
    from roadwatch.reading import load_photo, read_image

    reader, found, _ = _reader_and_detector(args)
    image = load_photo(args.photo)
    plates = read_image(image, found, reader)
    rows = [
        {
            "text": p.read.text,
            "confidence": round(p.read.confidence, 4),
            "chars": [round(c, 4) for c in p.read.chars],
            "region": p.read.region,
            "box": [round(v, 1) for v in p.box],
            "detection_score": round(p.detection_score, 4),
        }
        for p in plates
    ]
    if args.json:
        print(json.dumps({"photo": str(args.photo), "plates": rows}))
        return EXIT_OK
    if not rows:
        print(f"{args.photo}: no readable plate")
    for row in rows:
        print(f"{row['text']:<12} {row['confidence']:.2f}  {row['region'] or '?':<3} box {row['box']}")
    return EXIT_OK


def cmd_eval_plates(args: argparse.Namespace) -> int:
    """Detection and reading end to end from whole images, scored against the labels."""
    from roadwatch.reading import openalpr_images, score_plates, synthetic_images

    if args.every < 1:
        raise CliError(f"--every must be at least 1, got {args.every}")
    if not args.data.is_dir():
        raise CliError(f"{args.data}: no such folder")
    reader, found, engine = _reader_and_detector(args)
    problems: list[str] = []
    if args.format == "openalpr":
        from formats import DatasetError

        try:
            images, problems = openalpr_images(args.data)
        except DatasetError as exc:
            raise CliError(str(exc)) from None
        for problem in problems:
            print(f"roadwatch: warning: {problem}", file=sys.stderr)
        labelled: Any = images
    else:
        labelled = synthetic_images(args.data, args.every)
    score = score_plates(labelled, found, reader)
    for skipped in score.skipped:
        print(f"roadwatch: warning: {skipped}; skipped", file=sys.stderr)
    score.skipped += problems
    summary = {**score.summary(), "engine": engine}
    if args.misreads and not args.json:
        for name, want, got in score.misreads:
            print(f"{name}: {want} read as {got}")
    human = (
        f"{summary['images']} images, {summary['plates_truth']} plates: "
        f"detected {summary['plates_detected']}, "
        f"exact {summary['exact']} (accuracy {summary['accuracy']}), false reads {summary['false_reads']}, "
        f"{summary['ms_per_image']} ms per image"
    )
    print(json.dumps(summary) if args.json else human)
    return EXIT_OK


def cmd_bench_plates(args: argparse.Namespace) -> int:
    """Milliseconds per plate of each engine, one plate per call and in batches, and its exact
    reads of one- and two-row plates: the recogniser's held-out synthetic plates (those
    ``roadwatch train plates`` validates on), read by the raw engine without formats. Quote
    the idle machine's figures."""
    import time

    import numpy as np

    from plates.synthetic import render_sample
    from plates.train import VAL_STREAM
    from reid.data import TWO_LINE_ASPECT, rectify_plate
    from roadwatch.app import plate_reader
    from roadwatch.reading import READ_SIZE

    def _as_handed(plate: np.ndarray) -> np.ndarray:
        """As the app hands a plate to the reader: rectified to READ_SIZE, two rows side by side."""
        h, w = plate.shape[:2]
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        return rectify_plate(plate, corners, READ_SIZE, TWO_LINE_ASPECT)

    if args.plates < 1 or args.batch < 1:
        raise CliError(f"--plates and --batch must be at least 1, got {args.plates} and {args.batch}")
    cfg = config_or_default(args.config).plates
    rng = np.random.default_rng([cfg.train.seed, VAL_STREAM])
    samples = [render_sample(rng) for _ in range(args.plates)]
    crops = [_as_handed(s.image) for s in samples]
    engines: dict[str, Any] = {}
    for engine in args.engine or ["ppocr", "roadwatch"]:
        reader = plate_reader(cfg.model_copy(update={"engine": engine, "model": None}))
        assert reader is not None
        reader.engine.read(crops[:2])  # warm up
        single, texts = [], []
        for crop in crops:
            started = time.perf_counter()
            (read,) = reader.engine.read([crop])
            single.append(1000 * (time.perf_counter() - started))
            texts.append(read.text)
        started = time.perf_counter()
        for i in range(0, len(crops), args.batch):
            reader.engine.read(crops[i : i + args.batch])
        batched = 1000 * (time.perf_counter() - started) / len(crops)
        row: dict[str, Any] = {
            "ms_per_plate_p50": round(float(np.percentile(single, 50)), 2),
            "ms_per_plate_p95": round(float(np.percentile(single, 95)), 2),
            "ms_per_plate_batched": round(batched, 2),
        }
        for rows, key in ((1, "exact_one_row"), (2, "exact_two_rows")):
            hits = [t == s.text for t, s in zip(texts, samples, strict=True) if s.rows == rows]
            row[key] = round(sum(hits) / len(hits), 4) if hits else None
        engines[engine] = row
    result = {
        "plates": len(crops),
        "two_row_plates": sum(s.rows == 2 for s in samples),
        "batch": args.batch,
        "threads": cfg.threads,
        "engines": engines,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, row in engines.items():
            print(
                f"{name}: {row['ms_per_plate_p50']} ms per plate (p95 {row['ms_per_plate_p95']}), "
                f"{row['ms_per_plate_batched']} ms per plate in calls of {args.batch}; exact "
                f"{row['exact_one_row']} of one-row and {row['exact_two_rows']} of two-row plates"
            )
    return EXIT_OK
