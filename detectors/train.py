"""Train the two-stage detector on a YOLO or COCO set, read top to bottom.

Per step: draw ``images_per_step`` training images (a seeded permutation, epoch after epoch),
change the light of some and flip some horizontally, and add up the RPN losses (objectness on
256 sampled anchors, smooth L1 on the positives) and the head losses (cross-entropy and
smooth L1 on regions drawn by IoU-balanced sampling, seed 003); one Adam step on the
gradient clipped to ``grad_clip`` in norm. Checkpoints hold everything needed to resume.
After the last step the BatchNorm statistics are re-measured on fresh training views
(``recalibrate_batchnorm``), and the final checkpoint holds them.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from config.schema import DetectorTrainConfig
from detectors.data import (
    DetectionItem,
    DetectionSet,
    crop_region,
    letterbox,
    load_detection_set,
    to_tensor_input,
)
from detectors.npbox import clip_boxes
from detectors.sampling import SamplerSpec
from detectors.twostage import DetectorSpec, TrainSpec, TwoStageDetector
from formats import DatasetError
from reid.precision import resolve_precision, set_layout

LOG_EVERY = 10
MIN_BOX_PX = 3.0  # boxes lower than this in the network input are too small to learn from


class DetectorTrainingError(Exception):
    """Training cannot go on (no data, a diverging loss, a bad checkpoint); one line for the user."""


@dataclass
class DetectorState:
    """Everything a checkpoint holds."""

    step: int
    model: TwoStageDetector
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    order: list[int] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DetectorTrainResult:
    """Summary of a training run (the ``--json`` keys of ``roadwatch train detector``)."""

    steps: int
    seconds: float
    images: int
    boxes: int
    skipped_boxes: int
    bn_views: int
    final: dict[str, float]
    checkpoint: Path
    precision: str


def spec_for(classes: list[str], cfg: DetectorTrainConfig) -> DetectorSpec:
    """The detector shape used for a class list and training config."""
    return DetectorSpec(classes=tuple(classes), balanced=cfg.balanced_pyramid)


def train_spec_for(cfg: DetectorTrainConfig) -> TrainSpec:
    """Anchor and region sampling settings: IoU-balanced negatives unless ``iou_bins`` < 2."""
    return TrainSpec(head=SamplerSpec(batch=128, positive_fraction=0.25, bins=cfg.iou_bins))


def lr_at(step: int, cfg: DetectorTrainConfig) -> float:
    """Linear warm-up, then cosine decay to 1 %."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _next_images(state: DetectorState, count: int, total: int) -> list[int]:
    chosen = []
    for _ in range(count):
        if not state.order:
            state.order = state.rng.permutation(total).tolist()
        chosen.append(state.order.pop())
    return chosen


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame under other light: contrast ×0.5–1.5 about mid-grey, brightness ±40 levels.

    The synthetic world renders day, dusk and night; this widens each scene's range so a dark
    vehicle at night or a washed-out one at noon is still seen as one.
    """
    contrast = float(rng.uniform(0.5, 1.5))
    brightness = float(rng.uniform(-40.0, 40.0))
    levels = np.arange(256, dtype=np.float32) * contrast + brightness + 128.0 * (1.0 - contrast)
    table = np.clip(np.rint(levels), 0, 255).astype(np.uint8)
    return np.asarray(cv2.LUT(image, table), np.uint8)


def training_view(
    item: DetectionItem, cfg: DetectorTrainConfig, upsample: float, rng: np.random.Generator
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training input: the letterboxed frame, or (``second_pass_p``) the second pass's view.

    The second pass's view cuts a region of ``input / upsample`` pixels around a random
    labelled object (centre jittered, factor ×0.6–1.4) and up-samples it to the input size,
    so the same network learns to refine small candidates (seed 000). Boxes cut to less than
    half their area, or under ``MIN_BOX_PX`` high in the input, are left out as objects and
    become regions to ignore, beside the item's own.

    Returns:
        The view, its boxes, their 1-based labels, and its regions to ignore.
    """
    image = item.image()
    if rng.random() < cfg.photometric_p:
        image = photometric(image, rng)
    size = cfg.input_size
    boxes = item.boxes.copy()
    ignore = item.ignore.copy()
    if len(boxes) and rng.random() < cfg.second_pass_p:
        box = boxes[int(rng.integers(len(boxes)))]
        factor = upsample * float(rng.uniform(0.6, 1.4))
        region = (size[0] / factor, size[1] / factor)
        centre = (
            (box[0] + box[2]) / 2 + float(rng.uniform(-0.25, 0.25)) * region[1],
            (box[1] + box[3]) / 2 + float(rng.uniform(-0.25, 0.25)) * region[0],
        )
        view, scale, (x0, y0) = crop_region(image, centre, region, size)
        shift = np.array([x0, y0, x0, y0], np.float32)
        boxes, ignore = (boxes - shift) * np.float32(scale), (ignore - shift) * np.float32(scale)
    else:
        view, fit = letterbox(image, size)
        boxes, ignore = boxes * np.float32(fit.scale), ignore * np.float32(fit.scale)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    clipped, ignore = clip_boxes(boxes, size), clip_boxes(ignore, size)
    kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (kept_area >= 0.5 * area) & (clipped[:, 3] - clipped[:, 1] >= MIN_BOX_PX)
    visible = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    still = (ignore[:, 2] > ignore[:, 0]) & (ignore[:, 3] > ignore[:, 1])
    ignore = np.concatenate([ignore[still], clipped[~keep & visible]])
    boxes, labels = clipped[keep], item.labels[keep]
    if rng.random() < cfg.flip_p:
        view = view[:, ::-1]
        boxes[:, [0, 2]] = size[1] - boxes[:, [2, 0]]
        ignore[:, [0, 2]] = size[1] - ignore[:, [2, 0]]
    return (
        np.ascontiguousarray(view),
        torch.from_numpy(boxes),
        torch.from_numpy(labels),
        torch.from_numpy(np.ascontiguousarray(ignore, np.float32)),
    )


def save_checkpoint(path: Path, state: DetectorState, meta: dict[str, Any]) -> None:
    """Write a resumable checkpoint atomically."""
    payload = {
        "step": state.step,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "rng": state.rng.bit_generator.state,
        "order": state.order,
        "torch_rng": torch.get_rng_state(),
        "history": state.history,
        "meta": meta,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a detector checkpoint.

    Raises:
        DetectorTrainingError: Unreadable, not a detector checkpoint, or non-finite weights.
    """
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise DetectorTrainingError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(payload, dict) or "model" not in payload or "meta" not in payload:
        raise DetectorTrainingError(f"{path}: not a roadwatch detector checkpoint")
    for name, tensor in payload["model"].items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise DetectorTrainingError(f"{path}: weight '{name}' holds NaN or infinite values")
    return payload


def model_from_checkpoint(payload: dict[str, Any]) -> TwoStageDetector:
    """Rebuild the trained detector from a checkpoint payload."""
    meta = payload["meta"]
    spec = DetectorSpec(classes=tuple(meta["classes"]), balanced=bool(meta["balanced"]))
    model = TwoStageDetector(spec)
    model.load_state_dict(payload["model"])
    return model.eval()


def train_detector(
    data: Path | list[Path],
    out: Path,
    cfg: DetectorTrainConfig,
    *,
    upsample: float = 3.0,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[DetectorTrainResult, DetectorState]:
    """Train on the ``train`` split of ``data`` (YOLO folders or COCO files); checkpoint to ``out``.

    ``upsample`` is the second pass's up-sampling factor (``detectors.plate.upsample_factor``).

    Raises:
        DetectorTrainingError: No training images, a diverging loss, or a bad checkpoint.
    """
    started = time.monotonic()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    roots = data if isinstance(data, list) else [data]
    try:
        dataset = _load_sets(roots)
    except (FileNotFoundError, ValueError, DatasetError) as exc:
        raise DetectorTrainingError(str(exc)) from None
    if not dataset.items:
        raise DetectorTrainingError(f"{data}: no training images")
    spec = spec_for(dataset.classes, cfg)
    model = set_layout(TwoStageDetector(spec), torch.channels_last)
    precision = resolve_precision(cfg.precision)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = DetectorState(0, model, optimizer, np.random.default_rng(cfg.seed))
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    meta = {
        "classes": dataset.classes,
        "balanced": cfg.balanced_pyramid,
        "input_size": list(cfg.input_size),
        "config": cfg.model_dump(mode="json"),
        "data": [str(r) for r in roots],
        "upsample": upsample,
        "precision": precision,
    }
    if resume and checkpoint.exists():
        _restore(state, load_checkpoint(checkpoint), dataset.classes)
    train = train_spec_for(cfg)
    model.train()
    while state.step < cfg.steps:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(state.step, cfg)
        chosen = _next_images(state, cfg.images_per_step, len(dataset.items))
        batch = [training_view(dataset.items[i], cfg, upsample, state.rng) for i in chosen]
        images = torch.from_numpy(to_tensor_input([b[0] for b in batch]))
        targets = [(b[1], b[2], b[3]) if cfg.ignore_regions else (b[1], b[2]) for b in batch]
        losses = model.losses(images, targets, train, state.rng, precision)
        if not torch.isfinite(losses["total"]):
            raise DetectorTrainingError(
                f"loss became {losses['total'].item()} at step {state.step}; lower detectors.train.lr"
            )
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()  # type: ignore[no-untyped-call]
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf"))
        optimizer.step()
        state.step += 1
        values = {**{k: float(v.detach()) for k, v in losses.items()}, "grad_norm": float(norm)}
        if state.step % LOG_EVERY == 0 or state.step == cfg.steps:
            state.history.append({"step": float(state.step), "lr": lr_at(state.step - 1, cfg), **values})
        if state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps:
            save_checkpoint(checkpoint, state, meta)
        if on_step is not None:
            on_step(state.step, values)
    set_layout(model, torch.contiguous_format)
    bn_views = 0
    if cfg.bn_views:
        bn_views = recalibrate_batchnorm(model, dataset, cfg, upsample, np.random.default_rng(cfg.seed + 1))
        meta["bn_views"] = bn_views
        save_checkpoint(checkpoint, state, meta)
    probe = [
        training_view(dataset.items[i], cfg, upsample, np.random.default_rng(cfg.seed + 2))[0]
        for i in (0, -1)
    ]
    if not np.array_equal(probe[0], probe[-1]) and rpn_collapsed(model, probe):
        raise DetectorTrainingError(
            f"{checkpoint}: the RPN has collapsed (its objectness no longer depends on the image: every "
            "unit of its hidden layer is dead); these weights find nothing. Train again with a lower "
            "detectors.train.lr or with detectors.train.grad_clip set"
        )
    result = DetectorTrainResult(
        steps=state.step,
        seconds=time.monotonic() - started,
        images=len(dataset.items),
        boxes=sum(len(it.boxes) for it in dataset.items),
        skipped_boxes=len(dataset.skipped),
        bn_views=bn_views,
        final=state.history[-1] if state.history else {},
        checkpoint=checkpoint,
        precision=precision,
    )
    return result, state


def rpn_collapsed(model: TwoStageDetector, views: list[np.ndarray]) -> bool:
    """Whether the RPN's objectness is the same for different images (its hidden ReLUs all dead).

    Loss curves do not show it: a dead RPN predicts its bias everywhere, which costs little on
    images with few objects. Checked on ``views`` (two or more different inputs) in eval mode.
    """
    was_training = model.training
    model.eval()
    with torch.no_grad():
        scores, _ = model.rpn(model.features(torch.from_numpy(to_tensor_input(views))))
    model.train(was_training)
    objectness = torch.cat(scores, 1)
    return bool((objectness - objectness[:1]).abs().max() == 0)


def recalibrate_batchnorm(
    model: TwoStageDetector,
    dataset: DetectionSet,
    cfg: DetectorTrainConfig,
    upsample: float,
    rng: np.random.Generator,
) -> int:
    """Re-estimate every BatchNorm's running mean and variance over ``cfg.bn_views`` training views.

    Training sees ``images_per_step`` images per step (2 by default), half of them up-sampled
    second-pass crops, so the running averages BatchNorm keeps (momentum 0.1) follow the last
    few dozen noisy batches and drift with the weights. After the last step the weights are
    fixed: the statistics are reset and re-measured as the plain average over fresh views in
    batches of ``images_per_step`` ("precise BN"), forward only. The weights do not change.

    Returns:
        The number of views used (0 when the model has no BatchNorm).
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or not dataset.items:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    done = 0
    with torch.no_grad():
        while done < cfg.bn_views:
            count = min(cfg.images_per_step, cfg.bn_views - done)
            chosen = rng.integers(len(dataset.items), size=count)
            views = [training_view(dataset.items[int(i)], cfg, upsample, rng)[0] for i in chosen]
            model.features(torch.from_numpy(to_tensor_input(views)))
            done += count
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()
    return done


def _load_sets(roots: list[Path]) -> DetectionSet:
    """The train splits of several sets with the same class names, as one."""
    merged = DetectionSet([], [])
    for root in roots:
        part = load_detection_set(root, "train")
        if merged.classes and part.classes != merged.classes:
            raise ValueError(f"{root}: classes {part.classes} differ from {merged.classes}")
        merged.classes = part.classes
        merged.items += part.items
        merged.skipped += part.skipped
    return merged


def _restore(state: DetectorState, payload: dict[str, Any], classes: list[str]) -> None:
    if list(payload["meta"]["classes"]) != list(classes):
        raise DetectorTrainingError(
            f"checkpoint classes {payload['meta']['classes']} differ from the data's {classes}"
        )
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.rng.bit_generator.state = payload["rng"]
    state.order = list(payload["order"])
    torch.set_rng_state(payload["torch_rng"])
    state.step = int(payload["step"])
    state.history = list(payload["history"])


__all__ = ["DetectorTrainingError", "recalibrate_batchnorm", "rpn_collapsed", "train_detector"]
