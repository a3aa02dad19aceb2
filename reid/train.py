"""Train the vehicle and plate networks together (seed 004), read top to bottom.

Per step: draw P identities × K crops, augment (seed 001), run both networks, and add up
  vehicle: batch-hard triplet(pooled) + classification(logits)
  plate:   batch-hard triplet(pooled) + classification(logits)      (crops with a plate)
  kd:      0.5·T²·KL(G1‖G2) + 0.5·T²·KL(G2‖G1)                     (crops with a plate)
  bn:      mean of squared BN weights and biases of both networks (seed 001)
  loss = vehicle + plate + kd_weight·kd + bn_reg·bn
then one Adam step for both networks. Checkpoints hold everything needed to resume exactly.
Batches are drawn and augmented on a background thread while the networks compute the step
before (``BatchStream``); batch ``s`` depends on the seed and ``s`` only.

Speed on a CPU: the networks run in channels-last layout, and (``reid.train.precision``) their
forward pass in bfloat16 autocast where the CPU computes bf16 natively (AVX512-BF16 or AMX);
weights, optimiser and losses stay fp32. On this 2-core machine that makes a step of the
networks ≈ 2.5× faster than plain fp32 (``scripts/train_step_time.py``).
"""

from __future__ import annotations

import math
import pickle
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from config.schema import ReidTrainConfig
from formats import ReidSample, read_veri
from reid.backbone import BackboneSpec
from reid.data import (
    TWO_LINE_ASPECT,
    AugmentSpec,
    PKSampler,
    ReidItem,
    augment,
    load_items,
    lookalike_neighbours,
    to_input,
)
from reid.losses import batch_hard_triplet_loss, bn_regularizer, classification_loss, distillation_loss
from reid.nets import (
    PLATE_SPEC,
    VEHICLE_SPEC,
    PlateTextHead,
    Pooling,
    ReidNet,
    ReidOutput,
    build_net,
    encode_plate_text,
)
from reid.precision import autocast, resolve_precision, set_layout

VEHICLE_AUGMENT = AugmentSpec(grey_p=0.3)  # one camera in five of the synthetic world is infrared
PLATE_AUGMENT = AugmentSpec(area=(0.8, 1.0), aspect=(0.85, 1.15), flip_p=0.0, rotate_p=0.3, rotate_deg=4.0)
LOG_EVERY = 10
LOOKALIKE_POOL = 8  # neighbours of an identity a look-alike is drawn from
Batch = TypeVar("Batch")

# Identities of the k-th extra training folder become identity + k × this stride.
EXTRA_IDENTITY_STRIDE = 1_000_000


class TrainingError(Exception):
    """Training cannot go on (bad data, a diverging loss); one line for the user."""


def spec_to_meta(spec: BackboneSpec) -> dict[str, Any]:
    """A backbone shape as checkpoint metadata (plain lists and ints)."""
    return {
        "depths": list(spec.depths),
        "widths": list(spec.widths),
        "expansion": spec.expansion,
        "stem_channels": spec.stem_channels,
        "stem_stride": spec.stem_stride,
        "last_stride": spec.last_stride,
        "out_channels": spec.out_channels,
    }


def two_line_aspect_from_meta(meta: dict[str, Any]) -> float:
    """The two-line plate layout a checkpoint's plate network was trained with
    (:func:`reid.data.rectify_plate`); 0, plates as printed, for checkpoints older than it."""
    try:
        return float(meta.get("two_line_aspect", 0.0))
    except (TypeError, ValueError):
        raise TrainingError(
            f"checkpoint's two_line_aspect metadata is not a number: {meta['two_line_aspect']!r}"
        ) from None


def spec_from_meta(meta: dict[str, Any], name: str) -> BackboneSpec:
    """The ``vehicle`` or ``plate`` backbone shape a checkpoint was trained with (older
    checkpoints, written before the shape was configurable, used the built-in shapes)."""
    stored = meta.get(f"{name}_net")
    if stored is None:
        return VEHICLE_SPEC if name == "vehicle" else PLATE_SPEC
    try:
        return BackboneSpec(
            **{**stored, "depths": tuple(stored["depths"]), "widths": tuple(stored["widths"])}
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise TrainingError(f"checkpoint's {name}_net metadata is not a backbone shape: {exc}") from None


def net_from_checkpoint(payload: dict[str, Any], name: str) -> ReidNet:
    """The ``vehicle`` or ``plate`` network of a loaded checkpoint (:func:`load_checkpoint`),
    rebuilt in the shape it was trained with, its weights loaded, in eval mode.

    Raises:
        TrainingError: The checkpoint's shape metadata is malformed.
    """
    meta = payload["meta"]
    net = build_net(spec_from_meta(meta, name), meta["classes"], meta["pooling"])
    net.load_state_dict(payload[name])
    net.eval()
    return net


@dataclass
class TrainState:
    """Everything a checkpoint holds."""

    step: int
    vehicle: ReidNet
    plate: ReidNet
    optimizer: torch.optim.Optimizer
    reader: PlateTextHead
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Summary of a training run (the ``--json`` keys of ``roadwatch train reid``)."""

    steps: int
    seconds: float
    identities: int
    samples: int
    samples_with_plate: int
    final: dict[str, float]
    checkpoint: Path
    precision: str


def warmup_cosine(step: int, peak: float, warmup_steps: int, steps: int) -> float:
    """Linear warm-up to ``peak``, then cosine decay to 1 % of it at ``steps``."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def lr_at(step: int, cfg: ReidTrainConfig) -> float:
    """The learning rate of ``step`` (:func:`warmup_cosine` over ``cfg``)."""
    return warmup_cosine(step, cfg.lr, cfg.warmup_steps, cfg.steps)


def _param_groups(nets: list[ReidNet], weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only; BN parameters get seed 001's regulariser instead."""
    decay: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for net in nets:
        for module in net.modules():
            for name, p in module.named_parameters(recurse=False):
                if not p.requires_grad:
                    continue
                is_bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
                (decay if name == "weight" and not is_bn else plain).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _batch(
    items: list[ReidItem],
    indices: list[int],
    sizes: tuple[tuple[int, int], tuple[int, int]],
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Augmented vehicle images, labels, plate images, their labels, which rows have plates, plate texts."""
    vehicle_size, plate_size = sizes
    chosen = [items[i] for i in indices]
    vehicles = [augment(it.vehicle, vehicle_size, VEHICLE_AUGMENT, rng) for it in chosen]
    with_plate = [i for i, it in enumerate(chosen) if it.plate is not None]
    plates = [augment(chosen[i].plate, plate_size, PLATE_AUGMENT, rng) for i in with_plate]  # type: ignore[arg-type]
    labels = torch.tensor([it.label for it in chosen], dtype=torch.int64)
    mask = torch.zeros(len(chosen), dtype=torch.bool)
    mask[with_plate] = True
    plate_x = torch.from_numpy(to_input(plates, plate_size)) if plates else torch.zeros((0, 3, *plate_size))
    texts = [chosen[i].plate_text for i in with_plate]
    return torch.from_numpy(to_input(vehicles, vehicle_size)), labels, plate_x, labels[mask], mask, texts


class BatchStream(Generic[Batch]):
    """Training batches made ahead on a background thread, in step order.

    Batch ``s`` is drawn from its own generator, ``numpy.random.default_rng([seed, s])``, so
    the batches are a function of the seed and the step alone: making them ahead changes
    nothing, and a resumed run draws exactly what an uninterrupted one would. Cropping,
    resizing and jitter run in OpenCV and numpy, which release the GIL, so a batch is made
    while the networks compute the previous step. An error while making a batch is raised by
    :meth:`next` in the training thread.

    Args:
        make: Builds one batch from a generator.
        seed: The run's seed.
        start: The first step to make.
        stop: One past the last step to make.
        depth: Batches made ahead at most.
    """

    def __init__(
        self, make: Callable[[np.random.Generator], Batch], seed: int, start: int, stop: int, depth: int = 2
    ) -> None:
        self._make, self._seed, self._stop_step = make, seed, stop
        self._queue: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=depth)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(start,), name="reid-batches", daemon=True)
        self._thread.start()

    def _run(self, step: int) -> None:
        while step < self._stop_step and not self._closing.is_set():
            item: Batch | BaseException
            try:
                item = self._make(np.random.default_rng([self._seed, step]))
            except BaseException as exc:  # handed to the training thread, which raises it
                item = exc
            while not self._closing.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return
            step += 1

    def next(self) -> Batch:
        """The next step's batch (waits for it to be made)."""
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop making batches and wait for the thread to end."""
        self._closing.set()
        self._thread.join()

    def __enter__(self) -> BatchStream[Batch]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _forward(net: ReidNet, images: torch.Tensor, precision: str) -> ReidOutput:
    """Run ``net`` (channels-last input; bf16 autocast when asked) and hand fp32 outputs to the losses."""
    images = images.contiguous(memory_format=torch.channels_last)
    with autocast(precision):
        out = net(images)
    return ReidOutput(out.pooled.float(), out.embedding.float(), out.logits.float(), out.maps.float())


def _losses(
    state: TrainState, batch: tuple[Any, ...], cfg: ReidTrainConfig, precision: str = "fp32"
) -> dict[str, torch.Tensor]:
    vehicle_x, labels, plate_x, plate_labels, mask, texts = batch
    v = _forward(state.vehicle, vehicle_x, precision)
    out = {
        "vehicle_triplet": batch_hard_triplet_loss(v.pooled, labels, cfg.triplet_margin),
        "vehicle_cls": classification_loss(
            v.logits, labels, cfg.classification, cfg.label_smoothing, cfg.focal_gamma
        ),
    }
    zero = v.logits.sum() * 0
    out["plate_triplet"] = out["plate_cls"] = out["kd"] = out["plate_text"] = zero
    if len(plate_x) >= 2:
        p = _forward(state.plate, plate_x, precision)
        out["plate_triplet"] = batch_hard_triplet_loss(p.pooled, plate_labels, cfg.triplet_margin)
        out["plate_cls"] = classification_loss(
            p.logits, plate_labels, cfg.classification, cfg.label_smoothing, cfg.focal_gamma
        )
        if cfg.distillation:
            out["kd"] = distillation_loss(v.logits[mask], p.logits, cfg.temperature)
        if cfg.plate_text_weight > 0:
            out["plate_text"] = _ctc(state.reader(p.maps), texts)
    out["bn"] = bn_regularizer(state.vehicle) + bn_regularizer(state.plate)
    out["total"] = (
        out["vehicle_triplet"]
        + out["vehicle_cls"]
        + out["plate_triplet"]
        + out["plate_cls"]
        + cfg.plate_text_weight * out["plate_text"]
        + cfg.kd_weight * out["kd"]
        + cfg.bn_reg * out["bn"]
    )
    return out


def _ctc(log_probs: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """CTC loss of the plate reader over the texts with a known plate; zero when none is known."""
    keep = [i for i, t in enumerate(texts) if t]
    if not keep:
        return log_probs.sum() * 0
    targets, lengths = encode_plate_text([texts[i] for i in keep])
    if int(lengths.max()) > log_probs.shape[0]:
        raise TrainingError(
            f"the plate feature map has {log_probs.shape[0]} columns, too few to read "
            f"{int(lengths.max())} characters; widen reid.plate_input or set reid.train.plate_text_weight: 0"
        )
    steps = torch.full((len(keep),), log_probs.shape[0], dtype=torch.int64)
    return F.ctc_loss(log_probs[:, keep], targets, steps, lengths, blank=0, zero_infinity=True)


def save_checkpoint(path: Path, state: TrainState, meta: dict[str, Any]) -> None:
    """Write a resumable checkpoint atomically (temp file, then rename)."""
    payload = {
        "step": state.step,
        "vehicle": state.vehicle.state_dict(),
        "plate": state.plate.state_dict(),
        "reader": state.reader.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": state.history,
        "meta": meta,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint; refuses files with non-finite weights.

    Raises:
        TrainingError: Unreadable file or NaN/inf in the weights.
    """
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise TrainingError(f"{path}: not a readable checkpoint ({exc})") from None
    for net in ("vehicle", "plate"):
        for name, tensor in payload[net].items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise TrainingError(f"{path}: {net} weight '{name}' holds NaN or infinite values")
    return payload


def training_samples(data: Path, splits: Sequence[str], extra: Sequence[Path] = ()) -> list[ReidSample]:
    """The named splits of ``data`` and every split of each ``extra`` folder; identities of the
    k-th extra folder are offset by ``(k + 1) * EXTRA_IDENTITY_STRIDE`` so folders never share one.

    Raises:
        TrainingError: An extra folder holds an identity at or above the stride.
    """
    veri = read_veri(data)
    samples = [sample for split in splits for sample in veri[split]]
    for k, folder in enumerate(extra, start=1):
        for _split, rows in read_veri(folder).items():
            for sample in rows:
                if sample.identity >= EXTRA_IDENTITY_STRIDE:
                    raise TrainingError(
                        f"{sample.image_path}: identity {sample.identity} too large for an extra folder"
                    )
                samples.append(replace(sample, identity=sample.identity + k * EXTRA_IDENTITY_STRIDE))
    return samples


def train_reid(
    data: Path,
    out: Path,
    cfg: ReidTrainConfig,
    *,
    vehicle_input: tuple[int, int],
    plate_input: tuple[int, int],
    pooling: Pooling = "avg",
    vehicle_net: BackboneSpec = VEHICLE_SPEC,
    plate_net: BackboneSpec = PLATE_SPEC,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    extra: Sequence[Path] = (),
) -> tuple[TrainResult, TrainState]:
    """Train both networks on the splits ``cfg.splits`` names (``train`` by default) of a
    VeRi-style folder; checkpoint to ``out``.

    ``extra`` folders add every crop of all their splits as further identities (a site's own
    cameras rendered with other seeds); an identity of one folder is never another's.

    Raises:
        TrainingError: Too few identities, a diverging loss, or a bad checkpoint.
    """
    started = time.monotonic()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    items = load_items(training_samples(data, cfg.splits, extra), plate_input, TWO_LINE_ASPECT)
    if not items:
        wanted = ", ".join(f"image_{split}/ and name_{split}.txt" for split in cfg.splits)
        raise TrainingError(f"{data}: no training crops (expected {wanted})")
    classes = 1 + max(it.label for it in items)
    vehicle = set_layout(build_net(vehicle_net, classes, pooling), torch.channels_last)
    plate = set_layout(build_net(plate_net, classes, pooling), torch.channels_last)
    reader = PlateTextHead(plate_net.out_channels)
    precision = resolve_precision(cfg.precision)
    groups = _param_groups([vehicle, plate], cfg.weight_decay)
    if cfg.plate_text_weight > 0:
        groups.append({"params": list(reader.parameters()), "weight_decay": cfg.weight_decay})
    optimizer = torch.optim.Adam(groups, lr=cfg.lr)
    state = TrainState(0, vehicle, plate, optimizer, reader)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    meta = {
        "classes": classes,
        "vehicle_input": vehicle_input,
        "plate_input": plate_input,
        "pooling": pooling,
        "vehicle_net": spec_to_meta(vehicle_net),
        "plate_net": spec_to_meta(plate_net),
        "two_line_aspect": TWO_LINE_ASPECT,
        "precision": precision,
        "config": cfg.model_dump(mode="json"),
        "data": str(data),
        "extra_data": [str(e) for e in extra],
    }
    if resume and checkpoint.exists():
        _restore(state, load_checkpoint(checkpoint), meta)
    try:
        neighbours = lookalike_neighbours(items, LOOKALIKE_POOL) if cfg.lookalikes > 0 else None
        sampler = PKSampler(
            [it.label for it in items],
            cfg.identities_per_batch,
            cfg.samples_per_identity,
            neighbours,
            cfg.lookalikes,
            [it.camera for it in items] if cfg.cross_camera else None,
        )
    except ValueError as exc:
        raise TrainingError(f"{data}: {exc}") from None
    vehicle.train()
    plate.train()

    def make(rng: np.random.Generator) -> tuple[Any, ...]:
        return _batch(items, sampler.batch(rng), (vehicle_input, plate_input), rng)

    with BatchStream(make, cfg.seed, state.step, cfg.steps) as batches:
        while state.step < cfg.steps:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(state.step, cfg)
            losses = _losses(state, batches.next(), cfg, precision)
            if not torch.isfinite(losses["total"]):
                raise TrainingError(
                    f"loss became {losses['total'].item()} at step {state.step}; lower reid.train.lr"
                )
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            state.step += 1
            values = {k: float(v.detach()) for k, v in losses.items()}
            if state.step % LOG_EVERY == 0 or state.step == cfg.steps:
                state.history.append({"step": float(state.step), "lr": lr_at(state.step - 1, cfg), **values})
            if state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps:
                save_checkpoint(checkpoint, state, meta)
            if on_step is not None:
                on_step(state.step, values)
    for net in (vehicle, plate):
        set_layout(net, torch.contiguous_format)
    result = TrainResult(
        steps=state.step,
        seconds=time.monotonic() - started,
        identities=classes,
        samples=len(items),
        samples_with_plate=sum(it.plate is not None for it in items),
        final=state.history[-1] if state.history else {},
        checkpoint=checkpoint,
        precision=precision,
    )
    return result, state


def _restore(state: TrainState, payload: dict[str, Any], meta: dict[str, Any]) -> None:
    stored = payload["meta"]
    if stored["classes"] != meta["classes"]:
        raise TrainingError(f"checkpoint has {stored['classes']} identities, the data {meta['classes']}")
    for name in ("vehicle", "plate"):
        if spec_from_meta(stored, name) != spec_from_meta(meta, name):
            raise TrainingError(
                f"checkpoint's {name} network is {spec_to_meta(spec_from_meta(stored, name))}, "
                f"the config asks for {meta[f'{name}_net']}; set reid.{name}_net to match or start afresh"
            )
    state.vehicle.load_state_dict(payload["vehicle"])
    state.plate.load_state_dict(payload["plate"])
    state.reader.load_state_dict(payload["reader"])
    state.optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["torch_rng"])
    state.step = int(payload["step"])
    state.history = list(payload["history"])
