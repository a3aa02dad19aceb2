"""``roadwatch train plates``: the plate recogniser, trained on synthetic plates and exported to ONNX."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from config import RoadwatchConfig, load_config
from roadwatch.errors import CliError
from roadwatch.progress import step_progress

EXIT_OK = 0


def add_plate_commands(commands: Any, groups: dict[str, Any]) -> None:
    """Register ``train plates`` on the ``train`` group."""
    train = groups["train"].add_parser("plates", help="train the plate recogniser on synthetic plates")
    train.add_argument("--config", type=Path, help="config file (plates.train section)")
    train.add_argument("--out", type=Path, default=Path("runs/plates"), help="checkpoint, curves, ONNX")
    train.add_argument("--steps", type=int, help="override plates.train.steps")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--json", action="store_true", help="print a JSON summary last")
    train.set_defaults(handler=cmd_train_plates)


def _config(path: Path | None) -> RoadwatchConfig:
    return load_config(path) if path is not None else RoadwatchConfig()


def cmd_train_plates(args: argparse.Namespace) -> int:
    """Train, plot the curves, export ``reader.onnx`` and check it agrees with torch."""
    from plates.synthetic import latin_fonts
    from plates.train import PlateTrainingError, export_recogniser, parity, train_plates
    from roadwatch.report import line_plot

    cfg = _config(args.config).plates.train
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
