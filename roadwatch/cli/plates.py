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


def add_plate_commands(commands: Any, groups: dict[str, Any]) -> None:
    """Register ``train plates``, ``eval plates`` and ``read``."""
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
