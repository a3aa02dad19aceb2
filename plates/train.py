"""Train the plate recogniser on synthetic plates, rendered on the fly, and export it to ONNX.

Batch ``k`` is rendered from its own seed ``(seed, k)``, so a run is the same whatever the
number of rendering processes and a resumed run sees the batches it would have seen.
Held-out plates come from another seed and are never trained on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from config.plates import PlateTrainConfig
from plates.codec import ALPHABET, ALPHABET_KEY, INPUT_SIZE, TWO_LINE_KEY, greedy_decode, to_input
from plates.net import PlateRecogniser, ProbabilityModel, encode
from plates.synthetic import latin_fonts, render_sample
from reid.data import TWO_LINE_ASPECT
from reid.export import quiet_onnx_export, strip_metadata
from reid.precision import autocast, resolve_precision
from reid.train import warmup_cosine

VAL_STREAM = 2**31 - 1  # the held-out plates' seed key, never a training batch index


class PlateTrainingError(RuntimeError):
    """Training cannot go on (a diverging loss, a checkpoint of another shape)."""


@dataclass(frozen=True, slots=True)
class PlateBatch:
    """Network input ``(B, 1, 32, 128)`` float32 and the printed texts."""

    images: npt.NDArray[np.float32]
    texts: list[str]


def render_batch(seed: int, index: int, size: int) -> PlateBatch:
    """Batch ``index`` of the stream ``seed``: ``size`` rendered plates."""
    rng = np.random.default_rng([seed, index])
    samples = [render_sample(rng) for _ in range(size)]
    return PlateBatch(to_input([s.image for s in samples], INPUT_SIZE), [s.text for s in samples])


class _Batches(Dataset[PlateBatch]):
    def __init__(self, seed: int, size: int) -> None:
        self.seed, self.size = seed, size

    def __getitem__(self, index: int) -> PlateBatch:
        return render_batch(self.seed, index, self.size)


def lr_at(step: int, cfg: PlateTrainConfig) -> float:
    """The learning rate of ``step``: the re-id trainer's warm-up and cosine schedule."""
    return warmup_cosine(step, cfg.lr, cfg.warmup_steps, cfg.steps)


def ctc_loss(logits: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """Mean CTC loss of column logits ``(N, T, C)`` (class 0 blank) against ``texts``.

    Impossible alignments (a text longer than T allows) count zero instead of infinity.
    """
    targets, lengths = encode(texts)
    log_probs = F.log_softmax(logits.float(), dim=2).transpose(0, 1)  # (T, N, C)
    steps = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.int64)
    return F.ctc_loss(log_probs, targets, steps, lengths, blank=0, zero_infinity=True)


def exact_rate(net: PlateRecogniser, batch: PlateBatch, chunk: int = 256) -> float:
    """Share of plates whose best-path read equals their text."""
    net.eval()
    hits = 0
    with torch.no_grad():
        for start in range(0, len(batch.texts), chunk):
            probs = F.softmax(net(torch.from_numpy(batch.images[start : start + chunk])), dim=2).numpy()
            reads = greedy_decode(probs)
            hits += sum(
                text == truth
                for (text, _), truth in zip(reads, batch.texts[start : start + chunk], strict=True)
            )
    net.train()
    return hits / max(1, len(batch.texts))


@dataclass
class PlateTrainResult:
    """What a training run did."""

    steps: int
    seconds: float
    val_exact: float
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path = Path()


def train_plates(
    out: Path,
    cfg: PlateTrainConfig,
    *,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[PlateTrainResult, PlateRecogniser]:
    """Train the recogniser for ``cfg.steps``; checkpoint and validate every ``cfg.checkpoint_every``."""
    started = time.monotonic()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = PlateRecogniser(cfg.widths, cfg.hidden)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    precision = resolve_precision(cfg.precision)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    step, history = 0, list[dict[str, float]]()
    if resume and checkpoint.exists():
        step, history = _restore(checkpoint, net, optimizer, cfg)
    val = render_batch(cfg.seed, VAL_STREAM, cfg.val_samples)
    loader = DataLoader(
        _Batches(cfg.seed, cfg.batch),
        batch_size=None,
        sampler=range(step, cfg.steps),
        num_workers=cfg.workers,
        prefetch_factor=4 if cfg.workers else None,
        collate_fn=lambda b: b,
    )
    net.train()
    val_exact = float("nan")
    for batch in loader:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        with autocast(precision):
            logits = net(torch.from_numpy(batch.images))
        loss = ctc_loss(logits, batch.texts)
        if not torch.isfinite(loss):
            raise PlateTrainingError(f"loss became {loss.item()} at step {step}; lower plates.train.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        step += 1
        values = {"total": float(loss.detach())}
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            val_exact = exact_rate(net, val)
            values["val_exact"] = val_exact
            history.append({"step": float(step), "lr": lr_at(step - 1, cfg), **values})
            _save(checkpoint, net, optimizer, step, history, cfg)
        elif step % 10 == 0:
            history.append({"step": float(step), "lr": lr_at(step - 1, cfg), **values})
        if on_step is not None:
            on_step(step, values)
    if math.isnan(val_exact):
        val_exact = exact_rate(net, val)
    net.eval()
    result = PlateTrainResult(step, time.monotonic() - started, val_exact, history, checkpoint)
    return result, net


def _save(
    path: Path,
    net: PlateRecogniser,
    optimizer: torch.optim.Optimizer,
    step: int,
    history: list[Any],
    cfg: PlateTrainConfig,
) -> None:
    state = {
        "step": step,
        "net": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "config": cfg.model_dump(mode="json"),
        "rng": torch.get_rng_state(),
        "fonts": [p.name for p in latin_fonts()],
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _restore(
    path: Path, net: PlateRecogniser, optimizer: torch.optim.Optimizer, cfg: PlateTrainConfig
) -> tuple[int, list[dict[str, float]]]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    saved = state.get("config", {})
    for key in ("widths", "hidden", "batch", "seed"):
        if key in saved and saved[key] != cfg.model_dump(mode="json")[key]:
            raise PlateTrainingError(f"{path}: trained with {key}={saved[key]}, not {getattr(cfg, key)}")
    try:
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, RuntimeError) as exc:
        raise PlateTrainingError(f"{path}: not a plate recogniser checkpoint of this shape ({exc})") from None
    torch.set_rng_state(state["rng"])
    return int(state["step"]), list(state["history"])


def export_recogniser(net: PlateRecogniser, path: Path) -> Path:
    """Write the recogniser (grey plates ``(N, 1, 32, 128)`` → probabilities ``(N, 32, C)``) to ONNX,
    its alphabet and two-row layout in the file's metadata."""
    model = ProbabilityModel(net).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet_onnx_export(
        model,
        (torch.zeros(2, 1, *INPUT_SIZE),),
        path,
        input_names=["images"],
        output_names=["probabilities"],
        dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1, max=65536)}},
    )
    strip_metadata(path, {ALPHABET_KEY: ALPHABET, TWO_LINE_KEY: str(TWO_LINE_ASPECT)})
    return path


def parity(net: PlateRecogniser, path: Path, batch: int = 4) -> float:
    """Max absolute difference of torch and onnxruntime probabilities on random plates."""
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(-1, 1, (batch, 1, *INPUT_SIZE)).astype(np.float32)
    with torch.no_grad():
        expected = ProbabilityModel(net).eval()(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = np.asarray(session.run(["probabilities"], {"images": x})[0])
    return float(np.abs(got - expected).max())
