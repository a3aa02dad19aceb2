"""``roadwatch train detector`` (and, as they land, the other detector commands)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config import RoadwatchConfig, load_config
from roadwatch.errors import CliError

EXIT_OK = 0
DEFAULT_DATA = [Path("data/city/detection"), Path("data/toll-road/detection")]
MAKE_DATA = (
    "roadwatch synth --scenario city --out data/city --parts detection && "
    "roadwatch synth --scenario toll-road --out data/toll-road --parts detection"
)


def add_detect_commands(commands: Any, groups: dict[str, Any], bench: Any) -> None:
    """Register the detector commands in the shared ``train``/``export``/``eval``/``bench`` groups."""
    train = groups["train"].add_parser("detector", help="train the two-stage vehicle and plate detector")
    train.add_argument(
        "--data", type=Path, nargs="+", default=DEFAULT_DATA, help="YOLO folders or COCO files (train split)"
    )
    train.add_argument("--config", type=Path, help="config file (detectors.train section)")
    train.add_argument("--out", type=Path, default=Path("runs/detector"), help="checkpoint and curves")
    train.add_argument("--steps", type=int, help="override detectors.train.steps")
    train.add_argument("--no-balanced-pyramid", action="store_true", help="ablation: plain FPN")
    train.add_argument("--random-sampling", action="store_true", help="ablation: no IoU-balanced sampling")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--json", action="store_true", help="print a JSON summary last")
    train.set_defaults(handler=cmd_train_detector)
    add_eval_detect(groups)


def _config(path: Path | None) -> RoadwatchConfig:
    return load_config(path) if path else RoadwatchConfig()


def cmd_train_detector(args: argparse.Namespace) -> int:
    """Train, write the loss curves, print a summary."""
    from tqdm import tqdm

    from detectors.train import DetectorTrainingError, train_detector
    from roadwatch.plot import line_plot

    cfg = _config(args.config)
    updates: dict[str, Any] = {}
    if args.steps is not None:
        updates["steps"] = args.steps
    if args.no_balanced_pyramid:
        updates["balanced_pyramid"] = False
    if args.random_sampling:
        updates["iou_bins"] = 0
    train_cfg = cfg.detectors.train.model_copy(update=updates)
    for root in args.data:
        if not root.exists():
            raise CliError(f"{root}: no detection data here; make the synthetic sets with: {MAKE_DATA}")
    with tqdm(
        total=train_cfg.steps, unit="step", file=sys.stderr, disable=args.json or not sys.stderr.isatty()
    ) as bar:

        def on_step(step: int, losses: dict[str, float]) -> None:
            bar.n = step
            bar.set_postfix(loss=f"{losses['total']:.3f}", refresh=False)
            bar.update(0)

        try:
            result, state = train_detector(
                list(args.data),
                args.out,
                train_cfg,
                upsample=cfg.detectors.plate.upsample_factor,
                resume=args.resume,
                on_step=on_step,
            )
        except DetectorTrainingError as exc:
            raise CliError(str(exc)) from None
    curves = {
        name: [(h["step"], h[name]) for h in state.history]
        for name in ("total", "rpn_cls", "rpn_box", "head_cls", "head_box")
    }
    line_plot(args.out / "loss.png", curves, title="detector training losses", x_label="step", y_label="loss")
    summary = {
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "images": result.images,
        "boxes": result.boxes,
        "skipped_boxes": result.skipped_boxes,
        "final_loss": {k: round(v, 4) for k, v in result.final.items()},
        "checkpoint": str(result.checkpoint),
    }
    human = f"trained {result.steps} steps in {result.seconds:.0f} s -> {args.out}"
    print(json.dumps(summary) if args.json else human)
    return EXIT_OK


def add_eval_detect(groups: dict[str, Any]) -> None:
    """``roadwatch eval detect``."""
    ev = groups["eval"].add_parser("detect", help="AP50 and small-plate recall on held-out frames")
    ev.add_argument("--data", type=Path, default=Path("data/city/detection"), help="YOLO folder or COCO file")
    ev.add_argument("--split", default="test", help="split of a YOLO folder (default: test)")
    ev.add_argument("--format", choices=("yolo", "openalpr"), default="yolo", help="dataset layout")
    ev.add_argument("--checkpoint", type=Path, default=Path("runs/detector/checkpoint.pt"))
    ev.add_argument("--config", type=Path, help="config file (detectors section)")
    ev.add_argument("--limit", type=int, help="evaluate the first N frames only")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=cmd_eval_detect)


def load_pipeline(checkpoint: Path, cfg: RoadwatchConfig, *, second_pass: bool = True) -> Any:
    """The two-pass pipeline over a trained checkpoint (torch)."""
    import torch

    from detectors.pipeline import DetectionPipeline, PipelineSpec, torch_runner
    from detectors.train import DetectorTrainingError, load_checkpoint, model_from_checkpoint

    if not checkpoint.exists():
        raise CliError(f"{checkpoint}: no detector checkpoint; train one with: roadwatch train detector")
    try:
        payload = load_checkpoint(checkpoint)
    except DetectorTrainingError as exc:
        raise CliError(str(exc)) from None
    torch.set_num_threads(2)
    model = model_from_checkpoint(payload)
    plate = cfg.detectors.plate
    spec = PipelineSpec(
        classes=tuple(payload["meta"]["classes"]),
        first_input=tuple(payload["meta"]["input_size"]),
        score_threshold=cfg.detectors.vehicle.score_threshold,
        plate_score_threshold=plate.score_threshold,
        small_plate_px=float(plate.small_plate_height_px),
        upsample=plate.upsample_factor,
        second_pass=second_pass,
    )
    return DetectionPipeline(torch_runner(model), spec)


def cmd_eval_detect(args: argparse.Namespace) -> int:
    """Evaluate on held-out synthetic frames (YOLO) or real photos (OpenALPR benchmark)."""
    from detectors.evaluate import evaluate_detection, evaluate_openalpr, load_frames
    from formats import DatasetError

    cfg = _config(args.config)
    pipeline = load_pipeline(args.checkpoint, cfg)
    if not args.data.exists():
        raise CliError(f"{args.data}: no such dataset; make the synthetic sets with: {MAKE_DATA}")
    try:
        if args.format == "openalpr":
            report = evaluate_openalpr(args.data, pipeline, limit=args.limit)
        else:
            frames = load_frames(args.data, args.split)[: args.limit]
            single = load_pipeline(args.checkpoint, cfg, second_pass=False)
            report = evaluate_detection(frames, pipeline, single)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    human = "  ".join(f"{k} {v}" for k, v in report.items())
    print(json.dumps(report) if args.json else human)
    return EXIT_OK
