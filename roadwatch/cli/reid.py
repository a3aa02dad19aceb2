"""``roadwatch train reid``, ``export reid``, ``eval reid`` and ``bench reid``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.schema import ReidConfig
from roadwatch.app import reid_model_paths
from roadwatch.cli.common import config_or_default
from roadwatch.errors import CliError
from roadwatch.progress import step_progress

if TYPE_CHECKING:
    from reid.nets import Feature  # imports torch: kept out of CLI start-up

EXIT_OK = 0
DEFAULT_DATA = Path("data/reid-fleet/reid")
MAKE_DATA = "roadwatch synth --scenario reid-fleet --out data/reid-fleet --parts reid,plates"


def add_reid_commands(commands: Any, bench: Any) -> dict[str, Any]:
    """Register the re-id commands (``bench`` is the ``roadwatch bench`` sub-parser group).

    Returns the ``train``, ``export`` and ``eval`` sub-parser groups for other models.
    """
    train = commands.add_parser("train", help="train models")
    trainers = train.add_subparsers(title="trainers", required=True)
    reid = trainers.add_parser("reid", help="train the vehicle and plate re-id networks together")
    reid.add_argument("--data", type=Path, default=DEFAULT_DATA, help="VeRi-style folder (with plates_*.csv)")
    reid.add_argument(
        "--add",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also train on every crop of this VeRi-style folder (repeatable): your cameras' own worlds",
    )
    reid.add_argument("--config", type=Path, help="config file (reid.train section)")
    reid.add_argument("--out", type=Path, default=Path("runs/reid"), help="checkpoints, curves, ONNX")
    reid.add_argument("--steps", type=int, help="override reid.train.steps")
    reid.add_argument("--no-distillation", action="store_true", help="ablation: train without distillation")
    reid.add_argument("--no-bn-reg", action="store_true", help="ablation: no BN-parameter regulariser")
    reid.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    reid.add_argument("--json", action="store_true", help="print a JSON summary last")
    reid.set_defaults(handler=cmd_train_reid)

    export = commands.add_parser("export", help="export models")
    exporters = export.add_subparsers(title="exporters", required=True)
    ex = exporters.add_parser("reid", help="write vehicle.onnx and plate.onnx from a checkpoint")
    ex.add_argument("--checkpoint", type=Path, default=Path("runs/reid/checkpoint.pt"))
    ex.add_argument("--out", type=Path, help="folder for the ONNX files (default: beside the checkpoint)")
    ex.add_argument("--config", type=Path, help="config file (reid.vehicle_feature, reid.plate_feature)")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(handler=cmd_export_reid)

    evaluate = commands.add_parser("eval", help="evaluate models")
    evaluators = evaluate.add_subparsers(title="evaluations", required=True)
    ev = evaluators.add_parser("reid", help="mAP / Rank-1 on held-out identities (query vs gallery)")
    ev.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="VeRi-style folder with query/test splits"
    )
    ev.add_argument("--config", type=Path, help="config file (reid section: models, provider)")
    ev.add_argument("--models", type=Path, help="folder holding vehicle.onnx and plate.onnx")
    ev.add_argument("--plot", type=Path, help="write the CMC curves here (PNG)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=cmd_eval_reid)

    b = bench.add_parser("reid", help="embedding throughput (vehicle + plate) in onnxruntime")
    b.add_argument("--config", type=Path)
    b.add_argument("--models", type=Path, help="folder holding vehicle.onnx and plate.onnx")
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--repeats", type=int, default=30)
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cmd_bench_reid)
    return {"train": trainers, "export": exporters, "eval": evaluators}


def _require_data(path: Path) -> None:
    if not (path / "image_train").is_dir() and not (path / "image_query").is_dir():
        raise CliError(f"{path}: no VeRi-style data here; make the synthetic set with: {MAKE_DATA}")


def _features(reid: ReidConfig) -> dict[str, Feature]:
    """The embedding each network exports (``reid.vehicle_feature``, ``reid.plate_feature``)."""
    return {"vehicle": reid.vehicle_feature, "plate": reid.plate_feature}


def cmd_train_reid(args: argparse.Namespace) -> int:
    """Train, write loss curves, export both ONNX files and check parity."""
    from reid.backbone import backbone_spec
    from reid.data import TWO_LINE_ASPECT, TWO_LINE_ASPECT_KEY
    from reid.export import export_onnx, parity
    from reid.train import TrainingError, train_reid
    from roadwatch.report import line_plot

    cfg = config_or_default(args.config)
    train_cfg = cfg.reid.train
    updates: dict[str, Any] = {}
    if args.steps is not None:
        updates["steps"] = args.steps
    if args.no_distillation:
        updates["distillation"] = False
    if args.no_bn_reg:
        updates["bn_reg"] = 0.0
    train_cfg = train_cfg.model_copy(update=updates)
    _require_data(args.data)
    for folder in args.add:
        _require_data(folder)
    with step_progress(train_cfg.steps, quiet=args.json) as on_step:
        try:
            result, state = train_reid(
                args.data,
                args.out,
                train_cfg,
                vehicle_input=cfg.reid.vehicle_input,
                plate_input=cfg.reid.plate_input,
                pooling=cfg.reid.pooling,
                vehicle_net=backbone_spec(cfg.reid.vehicle_net),
                plate_net=backbone_spec(cfg.reid.plate_net),
                resume=args.resume,
                on_step=on_step,
                extra=args.add,
            )
        except (TrainingError, FileNotFoundError) as exc:
            raise CliError(str(exc)) from None
    curves = {
        name: [(h["step"], h[name]) for h in state.history]
        for name in (
            "total",
            "vehicle_triplet",
            "vehicle_cls",
            "plate_triplet",
            "plate_cls",
            "kd",
            "plate_text",
        )
    }
    line_plot(args.out / "loss.png", curves, title="re-id training losses", x_label="step", y_label="loss")
    state.vehicle.eval()
    state.plate.eval()
    features = _features(cfg.reid)
    vehicle_onnx = export_onnx(
        state.vehicle, cfg.reid.vehicle_input, args.out / "vehicle.onnx", features["vehicle"]
    )
    plate_onnx = export_onnx(
        state.plate,
        cfg.reid.plate_input,
        args.out / "plate.onnx",
        features["plate"],
        {TWO_LINE_ASPECT_KEY: str(TWO_LINE_ASPECT)},
    )
    summary = {
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "identities": result.identities,
        "samples": result.samples,
        "samples_with_plate": result.samples_with_plate,
        "precision": result.precision,
        "final_loss": {k: round(v, 4) for k, v in result.final.items()},
        "vehicle_model": str(vehicle_onnx),
        "plate_model": str(plate_onnx),
        "parity_max_abs_diff": max(
            parity(state.vehicle, cfg.reid.vehicle_input, vehicle_onnx, feature=features["vehicle"]),
            parity(state.plate, cfg.reid.plate_input, plate_onnx, feature=features["plate"]),
        ),
    }
    _print(summary, args.json, f"trained {result.steps} steps in {result.seconds:.0f} s -> {args.out}")
    return EXIT_OK


def cmd_export_reid(args: argparse.Namespace) -> int:
    """Rebuild the networks from a checkpoint and write both ONNX files."""
    from reid.data import TWO_LINE_ASPECT_KEY
    from reid.export import export_onnx, parity
    from reid.train import TrainingError, load_checkpoint, net_from_checkpoint, two_line_aspect_from_meta

    features = _features(config_or_default(args.config).reid)
    try:
        payload = load_checkpoint(args.checkpoint)
    except TrainingError as exc:
        raise CliError(str(exc)) from None
    meta = payload["meta"]
    out = args.out or args.checkpoint.parent
    summary: dict[str, Any] = {}
    try:
        layout = {TWO_LINE_ASPECT_KEY: str(two_line_aspect_from_meta(meta))}
    except TrainingError as exc:
        raise CliError(f"{args.checkpoint}: {exc}") from None
    for name in ("vehicle", "plate"):
        try:
            net = net_from_checkpoint(payload, name)
        except TrainingError as exc:
            raise CliError(f"{args.checkpoint}: {exc}") from None
        size = tuple(meta[f"{name}_input"])
        path = export_onnx(
            net, size, out / f"{name}.onnx", features[name], layout if name == "plate" else None
        )
        summary[f"{name}_model"] = str(path)
        summary[f"{name}_feature"] = features[name]
        summary[f"{name}_parity_max_abs_diff"] = parity(net, size, path, feature=features[name])
    _print(summary, args.json, f"wrote {summary['vehicle_model']} and {summary['plate_model']}")
    return EXIT_OK


def cmd_eval_reid(args: argparse.Namespace) -> int:
    """Embed query and gallery crops with the ONNX models; report mAP and Rank-1."""
    from reid.evaluate import evaluate_reid

    cfg = config_or_default(args.config)
    _require_data(args.data)
    vehicle_model, plate_model = reid_model_paths(cfg.reid, args.models)
    report = evaluate_reid(args.data, vehicle_model, plate_model, reid=cfg.reid)
    if args.plot is not None:
        from roadwatch.report import line_plot

        curves = {kind: [(float(r + 1), v) for r, v in enumerate(cmc)] for kind, cmc in report["cmc"].items()}
        line_plot(
            args.plot,
            curves,
            title="CMC, held-out identities",
            x_label="rank",
            y_label="match rate",
            y_range=(0, 1),
        )
    human = "  ".join(
        f"{k}: mAP {report[k]['mAP']:.3f} R1 {report[k]['rank1']:.3f}" for k in ("vehicle", "plate", "fusion")
    )
    _print(report, args.json, human)
    return EXIT_OK


def cmd_bench_reid(args: argparse.Namespace) -> int:
    """Vehicle + plate embedding throughput at a batch size, in onnxruntime."""
    import numpy as np

    from reid.embedder import Embedder

    cfg = config_or_default(args.config)
    vehicle_model, plate_model = reid_model_paths(cfg.reid, args.models)
    embedder = Embedder.from_files(vehicle_model, plate_model, threads=args.threads, batch_size=args.batch)
    rng = np.random.default_rng(0)
    vehicles = [rng.integers(0, 256, (120, 150, 3), dtype=np.uint8) for _ in range(args.batch)]
    plates = [rng.integers(0, 256, (20, 90, 3), dtype=np.uint8) for _ in range(args.batch)]
    embedder.embed(vehicles, plates)  # warm-up
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        embedder.embed(vehicles, plates)
        times.append(time.perf_counter() - started)
    ms = float(np.median(times)) * 1000
    summary = {
        "batch": args.batch,
        "threads": args.threads,
        "ms_per_batch": round(ms, 2),
        "crops_per_s": round(args.batch * 1000 / ms, 1),
        "repeats": args.repeats,
    }
    _print(summary, args.json, f"{summary['crops_per_s']} vehicle+plate crops/s ({ms:.1f} ms per batch)")
    return EXIT_OK


def _print(summary: dict[str, Any], as_json: bool, human: str) -> None:
    print(json.dumps(summary) if as_json else human)
