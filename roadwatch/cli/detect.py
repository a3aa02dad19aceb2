"""``roadwatch train detector`` (and, as they land, the other detector commands)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from config import RoadwatchConfig
from detectors.stage import BUNDLED
from roadwatch.cli.common import config_or_default
from roadwatch.errors import CliError
from roadwatch.progress import step_progress

EXIT_OK = 0
# Held-out frames: the test splits of the seed-0 worlds. Training adds six more worlds of each
# scenario (seeds 1 to 6, 180 s each: other vehicles, other traffic), whose train splits only
# are read; nothing of theirs is evaluated.
EVAL_DATA = [Path("data/city/detection"), Path("data/toll-road/detection")]
EXTRA_WORLDS = [(scenario, seed) for seed in (1, 2, 3, 4, 5, 6) for scenario in ("city", "toll-road")]
DEFAULT_DATA = [*EVAL_DATA, *(Path(f"data/{name}-s{seed}/detection") for name, seed in EXTRA_WORLDS)]
MAKE_DATA = " && ".join(
    [
        "roadwatch synth --scenario city --out data/city --parts detection",
        "roadwatch synth --scenario toll-road --out data/toll-road --parts detection",
        *(
            f"roadwatch synth --scenario {name} --seed {seed} --duration 180 --out data/{name}-s{seed} "
            "--parts detection"
            for name, seed in EXTRA_WORLDS
        ),
    ]
)


def add_detect_commands(commands: Any, groups: dict[str, Any], bench: Any) -> None:
    """Register the detector commands in the shared ``train``/``export``/``eval``/``bench`` groups."""
    add_bench_and_detect(commands, bench)
    add_gate_commands(groups)
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


def cmd_train_detector(args: argparse.Namespace) -> int:
    """Train, write the loss curves, print a summary."""
    from detectors.train import DetectorTrainingError, train_detector
    from roadwatch.report import line_plot

    cfg = config_or_default(args.config)
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
    with step_progress(train_cfg.steps, quiet=args.json) as on_step:
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
        "bn_views": result.bn_views,
        "precision": result.precision,
        "final_loss": {k: round(v, 4) for k, v in result.final.items() if k != "grad_norm"},
        "final_grad_norm": round(result.final["grad_norm"], 4) if "grad_norm" in result.final else None,
        "checkpoint": str(result.checkpoint),
    }
    human = f"trained {result.steps} steps in {result.seconds:.0f} s -> {args.out}"
    print(json.dumps(summary) if args.json else human)
    return EXIT_OK


def add_eval_detect(groups: dict[str, Any]) -> None:
    """``roadwatch eval detect`` and ``roadwatch export detector``."""
    ev = groups["eval"].add_parser("detect", help="AP50 and small-plate recall on held-out frames")
    ev.add_argument(
        "--data",
        type=Path,
        nargs="+",
        default=EVAL_DATA,
        help="YOLO folders / COCO files, or an OpenALPR folder",
    )
    ev.add_argument("--split", default="test", help="split of a YOLO folder (default: test)")
    ev.add_argument("--format", choices=("yolo", "openalpr"), default="yolo", help="dataset layout")
    _model_args(ev)
    ev.add_argument("--no-second-pass", action="store_true", help="ablation: first pass only")
    ev.add_argument(
        "--ap-score-floor",
        type=_score,
        help="AP ranks detections down to this score (default 0.05); recalls use the config's thresholds",
    )
    ev.add_argument("--gate", type=Path, help="also measure what this intent gate (gate.onnx) saves re-id")
    ev.add_argument("--limit", type=int, help="evaluate the first N frames only")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=cmd_eval_detect)

    ex = groups["export"].add_parser(
        "detector", help="write the detector's two ONNX graphs from a checkpoint"
    )
    ex.add_argument("--checkpoint", type=Path, default=Path("runs/detector/checkpoint.pt"))
    ex.add_argument("--out", type=Path, help="folder for the ONNX files (default: beside the checkpoint)")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(handler=cmd_export_detector)


def _score(text: str) -> float:
    """An argparse type: a score in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a score is between 0 and 1, got {value}")
    return value


def _model_args(parser: Any) -> None:
    parser.add_argument(
        "--models", type=Path, help="folder with detector_features.onnx and detector_head.onnx"
    )
    parser.add_argument("--checkpoint", type=Path, help="run a training checkpoint in torch instead of ONNX")
    parser.add_argument("--config", type=Path, help="config file (detectors section)")


def load_pipeline(
    args: argparse.Namespace,
    cfg: RoadwatchConfig,
    *,
    second_pass: bool = True,
    score_floor: float | None = None,
) -> Any:
    """The two-pass pipeline over the ONNX models (default: bundled) or a torch checkpoint.

    ``score_floor`` replaces both configured score thresholds (what AP ranks).
    """
    from detectors.pipeline import DetectionPipeline, torch_runner
    from detectors.runtime import DetectorModelError, OnnxDetector
    from detectors.stage import pipeline_spec

    runner: Any
    if args.checkpoint is not None:
        import torch

        from detectors.train import DetectorTrainingError, load_checkpoint, model_from_checkpoint

        if not args.checkpoint.exists():
            raise CliError(
                f"{args.checkpoint}: no detector checkpoint; train one with: roadwatch train detector"
            )
        try:
            payload = load_checkpoint(args.checkpoint)
        except DetectorTrainingError as exc:
            raise CliError(str(exc)) from None
        torch.set_num_threads(cfg.detectors.threads)
        runner = torch_runner(model_from_checkpoint(payload))
        classes = tuple(payload["meta"]["classes"])
        first_input = tuple(payload["meta"]["input_size"])
    else:
        folder = args.models or cfg.detectors.models or BUNDLED
        try:
            runner = OnnxDetector(
                folder / "detector_features.onnx",
                folder / "detector_head.onnx",
                provider=cfg.detectors.provider,
                threads=cfg.detectors.threads,
                proposals=cfg.detectors.proposals,
            )
        except DetectorModelError as exc:
            raise CliError(str(exc)) from None
        classes = runner.meta.classes
        first_input = runner.meta.input_size
    spec = replace(pipeline_spec(cfg.detectors, first_input), classes=classes, second_pass=second_pass)
    if score_floor is not None:
        spec = replace(spec, score_threshold=score_floor, plate_score_threshold=score_floor)
    second = (
        runner.limited(cfg.detectors.plate.second_pass_proposals)
        if isinstance(runner, OnnxDetector)
        else runner
    )
    return DetectionPipeline(runner, spec, second)


def cmd_eval_detect(args: argparse.Namespace) -> int:
    """Evaluate on held-out synthetic frames (YOLO/COCO) or real photos (OpenALPR benchmark)."""
    from detectors.evaluate import AP_SCORE_FLOOR, evaluate_detection, evaluate_openalpr, load_frames
    from formats import DatasetError

    cfg = config_or_default(args.config)
    second = not args.no_second_pass
    pipeline = load_pipeline(args, cfg, second_pass=second)
    for root in args.data:
        if not root.exists():
            raise CliError(f"{root}: no such dataset; make the synthetic sets with: {MAKE_DATA}")
    try:
        if args.format == "openalpr":
            report = evaluate_openalpr(args.data[0], pipeline, limit=args.limit)
        else:
            frames = [f for root in args.data for f in load_frames(root, args.split)][: args.limit]
            single = load_pipeline(args, cfg, second_pass=False)
            floor = AP_SCORE_FLOOR if args.ap_score_floor is None else args.ap_score_floor
            ranked = load_pipeline(args, cfg, second_pass=second, score_floor=floor)
            report = evaluate_detection(frames, pipeline, single, ranked)
            if args.gate is not None:
                report.update(_gate_report(args.gate, cfg, frames, pipeline))
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    human = "  ".join(f"{k} {v}" for k, v in report.items())
    print(json.dumps(report) if args.json else human)
    return EXIT_OK


def _gate_report(path: Path, cfg: RoadwatchConfig, frames: Any, pipeline: Any) -> dict[str, Any]:
    from detectors.evaluate import gate_savings
    from detectors.gate import IntentGate
    from detectors.runtime import DetectorModelError
    from reid.embedder import Embedder
    from roadwatch.app import reid_model_paths

    try:
        gate = IntentGate(path, provider=cfg.detectors.provider)
    except DetectorModelError as exc:
        raise CliError(str(exc)) from None
    embedder = Embedder.from_files(*reid_model_paths(cfg.reid), threads=cfg.reid.threads)
    return gate_savings(frames, pipeline, gate.classify, embedder.embed_vehicles)


def cmd_export_detector(args: argparse.Namespace) -> int:
    """Rebuild the detector from a checkpoint and write its ONNX graphs."""
    from detectors.export import export_detector, parity
    from detectors.train import DetectorTrainingError, load_checkpoint, model_from_checkpoint

    try:
        payload = load_checkpoint(args.checkpoint)
    except DetectorTrainingError as exc:
        raise CliError(str(exc)) from None
    model = model_from_checkpoint(payload)
    size = tuple(payload["meta"]["input_size"])
    out = args.out or args.checkpoint.parent
    features, head = export_detector(model, out, size)
    summary = {
        "features_model": str(features),
        "head_model": str(head),
        "parity_max_abs_diff": parity(model, features, size),
    }
    print(json.dumps(summary) if args.json else f"wrote {features} and {head}")
    return EXIT_OK


def add_bench_and_detect(commands: Any, bench: Any) -> None:
    """``roadwatch bench detect`` and ``roadwatch detect``."""
    b = bench.add_parser("detect", help="detection time per frame (first pass + plates, second pass)")
    b.add_argument("--scenario", default="toll-road", help="synthetic scenario rendering the frames")
    b.add_argument("--camera", default="entry", help="camera of the scenario (entry: 1280x720)")
    b.add_argument("--frames", type=int, default=100, help="frames to time (busy frames of the footage)")
    _model_args(b)
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cmd_bench_detect)

    d = commands.add_parser("detect", help="detect vehicles and plates in an image or video and draw them")
    d.add_argument("source", type=Path, help="image (png/jpg/...) or video file")
    d.add_argument("--out", type=Path, required=True, help="annotated image (.png/.jpg) or video (.mp4)")
    _model_args(d)
    d.add_argument("--max-frames", type=int, help="stop a video after this many frames")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_detect)


def cmd_bench_detect(args: argparse.Namespace) -> int:
    """Median and p95 time of the two-pass detection on rendered 1280×720 frames, idle machine."""
    import time

    import numpy as np

    from roadwatch.cli.common import config_or_default, load_scenario_spec
    from synth.render import CameraRenderer
    from synth.world import simulate

    if args.frames < 1:
        raise CliError(f"--frames must be >= 1, got {args.frames}")
    cfg = config_or_default(args.config)
    pipeline = load_pipeline(args, cfg)
    renderer = CameraRenderer(simulate(load_scenario_spec(args.scenario), 0), args.camera)
    # the busiest frames: every vehicle is a candidate for plates and the second pass
    step = max(1, renderer.frame_count // (args.frames * 3))
    rendered = [renderer.render(i) for i in range(0, renderer.frame_count, step)]
    rendered.sort(key=lambda r: -len(r[1].vehicles))
    frames = [image for image, _ in rendered[: args.frames]]
    pipeline.detect_image(frames[0])  # warm up
    times, regions, found = [], [], []
    for frame in frames:
        started = time.perf_counter()
        detections = pipeline.detect_image(frame)
        times.append(1000 * (time.perf_counter() - started))
        regions.append(pipeline.last.regions)
        found.append(len(detections))
    result = {
        "frames": len(frames),
        "resolution": list(renderer.spec.resolution),
        "ms_per_frame_p50": round(float(np.percentile(times, 50)), 2),
        "ms_per_frame_p95": round(float(np.percentile(times, 95)), 2),
        "second_pass_regions_mean": round(float(np.mean(regions)), 2),
        "detections_mean": round(float(np.mean(found)), 2),
        "threads": cfg.detectors.threads,
    }
    human = f"{result['ms_per_frame_p50']} ms/frame median, {result['ms_per_frame_p95']} ms p95"
    print(json.dumps(result) if args.json else human)
    return EXIT_OK


def cmd_detect(args: argparse.Namespace) -> int:
    """Draw boxes, classes and scores on an image or every frame of a video."""
    import cv2
    import numpy as np

    cfg = config_or_default(args.config)
    pipeline, classes = _detector_for_drawing(args, cfg)
    if not args.source.is_file():
        raise CliError(f"{args.source}: no such file")
    image = (
        cv2.imread(str(args.source), cv2.IMREAD_UNCHANGED)
        if args.source.suffix.lower() in IMAGE_SUFFIXES
        else None
    )
    counts: dict[str, int] = {}
    if image is not None:
        detections = pipeline.detect_image(np.asarray(image))
        canvas = draw(classes, image, detections, counts)
        if not cv2.imwrite(str(args.out), canvas):
            raise CliError(f"{args.out}: cannot write the image (use .png or .jpg)")
        frames = 1
    else:
        capture = cv2.VideoCapture(str(args.source))
        if not capture.isOpened():
            raise CliError(f"{args.source}: neither a readable image nor a readable video")
        fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
        writer = None
        frames = 0
        try:
            while args.max_frames is None or frames < args.max_frames:
                ok, frame = capture.read()
                if not ok:
                    break
                canvas = draw(classes, frame, pipeline.detect_image(frame), counts)
                if writer is None:
                    h, w = canvas.shape[:2]
                    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
                    if not writer.isOpened():
                        raise CliError(f"{args.out}: cannot write a video here (use .mp4)")
                writer.write(canvas)
                frames += 1
        finally:
            capture.release()
            if writer is not None:
                writer.release()
        if frames == 0:
            raise CliError(f"{args.source}: the video has no readable frame")
    result = {"frames": frames, "detections": counts, "out": str(args.out), "classes": list(classes)}
    print(json.dumps(result) if args.json else f"{frames} frame(s), {counts} -> {args.out}")
    return EXIT_OK


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _detector_for_drawing(args: argparse.Namespace, cfg: RoadwatchConfig) -> tuple[Any, tuple[str, ...]]:
    """The built-in two-pass pipeline of a torch checkpoint or a model folder (``--checkpoint``,
    ``--models``: any classes, for models being trained), else the configured detection stage
    (``detectors.vehicle.kind``), built as ``run`` and ``replay`` build it."""
    from detectors.stage import CLASSES
    from roadwatch import app

    if args.checkpoint is not None or args.models is not None:
        pipeline = load_pipeline(args, cfg)
        return pipeline, tuple(pipeline.spec.classes)
    stage = app.detector(cfg.detectors)
    if stage is None:
        raise CliError("detectors.vehicle.kind is 'none': nothing to detect")
    return stage, CLASSES


def draw(classes: tuple[str, ...], image: Any, detections: Any, counts: dict[str, int]) -> Any:
    """The frame (as BGR) with each detection's box, class and score; counts per class."""
    import cv2

    from detectors.data import as_bgr

    canvas = as_bgr(image).copy()
    plate_id = classes.index("plate") if "plate" in classes else -1
    for box, score, cls in zip(detections.xyxy, detections.confidence, detections.class_id, strict=True):
        name = classes[int(cls)]
        counts[name] = counts.get(name, 0) + 1
        colour = (0, 0, 255) if int(cls) == plate_id else (0, 200, 0)
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(
            canvas, f"{name} {score:.2f}", (x1, max(10, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1
        )
    return canvas


def add_gate_commands(groups: dict[str, Any]) -> None:
    """``roadwatch train gate``."""
    g = groups["train"].add_parser("gate", help="train the intent gate (vehicle or not, type, colour)")
    g.add_argument(
        "--data",
        type=Path,
        nargs="+",
        default=[Path("data/city"), Path("data/toll-road")],
        help="synthetic exports (with detection/ and truth/)",
    )
    g.add_argument("--out", type=Path, default=Path("runs/gate"), help="folder for gate.onnx")
    g.add_argument("--steps", type=int, default=1500)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--json", action="store_true")
    g.set_defaults(handler=cmd_train_gate)


def cmd_train_gate(args: argparse.Namespace) -> int:
    """Collect crops, train, score on the held-out split, export ONNX."""
    import numpy as np

    from detectors.gate import collect_samples, export_gate, train_gate

    rng = np.random.default_rng(args.seed)
    try:
        train = [s for root in args.data for s in collect_samples(root, "train", rng)]
        test = [s for root in args.data for s in collect_samples(root, "test", rng)]
    except FileNotFoundError as exc:
        raise CliError(f"{exc}; make the synthetic sets with: {MAKE_DATA}") from None
    net, report = train_gate(train, test, steps=args.steps, seed=args.seed)
    path = export_gate(net, args.out / "gate.onnx")
    summary = {
        "vehicle_accuracy": report.vehicle_accuracy,
        "false_accept_rate": report.false_accept_rate,
        "false_reject_rate": report.false_reject_rate,
        "type_accuracy": report.type_accuracy,
        "colour_accuracy": report.colour_accuracy,
        "test_crops": report.crops,
        "train_crops": len(train),
        "seconds": report.seconds,
        "model": str(path),
    }
    print(json.dumps(summary) if args.json else "  ".join(f"{k} {v}" for k, v in summary.items()))
    return EXIT_OK
