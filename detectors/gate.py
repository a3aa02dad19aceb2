"""The intent gate (seed 002): is this crop really a vehicle? And if so, of what type and colour?

A tiny classifier runs on every candidate crop (a detection, a motion blob, a search query)
before anything costly: only crops it accepts reach re-identification and the gallery. Its
type and colour outputs are the categories the gallery's search uses.

Network: the seed-001 backbone, narrow (widths 8-16-32, one block each), on 64×64 crops →
global average pooling → three linear heads: vehicle / not (2), type (6), colour (10).

Training data come from the synthetic world's detection export and its per-frame truth:
positives are the labelled vehicles (type and colour from the truth), negatives are random
boxes of vehicle-like sizes that overlap no vehicle by more than IoU 0.3 (road, buildings,
sky, part of a vehicle) and plate-only boxes. ``roadwatch train gate`` trains it, reports
held-out accuracy and writes ``gate.onnx``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detectors.data import as_bgr
from detectors.npbox import iou_matrix
from detectors.runtime import DetectorModelError, open_session
from reid.backbone import Backbone, BackboneSpec
from reid.data import MEAN, STD
from reid.export import quiet_onnx_export, strip_metadata

GATE_INPUT = (64, 64)
VEHICLE_TYPES = ("car", "suv", "van", "truck", "bus", "motorcycle")
COLOURS = ("white", "black", "silver", "grey", "red", "blue", "green", "yellow", "orange", "brown")
GATE_SPEC = BackboneSpec(depths=(1, 1, 1), widths=(8, 16, 32), stem_stride=2, last_stride=2, out_channels=64)
Image = npt.NDArray[np.uint8]


class GateNet(nn.Module):
    """Backbone → pooled 64-d → vehicle (2), type (6) and colour (10) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Backbone(GATE_SPEC)
        self.vehicle_head = nn.Linear(GATE_SPEC.out_channels, 2)
        self.type_head = nn.Linear(GATE_SPEC.out_channels, len(VEHICLE_TYPES))
        self.colour_head = nn.Linear(GATE_SPEC.out_channels, len(COLOURS))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pooled = self.backbone(images).mean((2, 3))
        return self.vehicle_head(pooled), self.type_head(pooled), self.colour_head(pooled)


class _Probabilities(nn.Module):
    def __init__(self, net: GateNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        v, t, c = self.net(images)
        return v.softmax(1)[:, 1], t.softmax(1), c.softmax(1)


def gate_input(crops: list[Image]) -> npt.NDArray[np.float32]:
    """BGR crops → ``(N, 3, 64, 64)`` float32 (RGB, ImageNet mean/std)."""
    out = np.empty((len(crops), 3, *GATE_INPUT), np.float32)
    for i, crop in enumerate(crops):
        small = cv2.resize(as_bgr(crop), GATE_INPUT[::-1], interpolation=cv2.INTER_AREA)
        rgb = small[..., ::-1].astype(np.float32) / 255.0
        out[i] = ((rgb - MEAN) / STD).transpose(2, 0, 1)
    return out


@dataclass(frozen=True, slots=True)
class GateSample:
    """One training crop: vehicle or not, and (for vehicles) type and colour indices (−1: none)."""

    crop: Image
    vehicle: int
    type: int
    colour: int


def collect_samples(
    scenario_out: Path, split: str, rng: np.random.Generator, negatives_per_image: int = 2
) -> list[GateSample]:
    """Crops of one split of a synthetic export (``OUT/detection`` images plus ``OUT/truth``).

    Raises:
        FileNotFoundError: The export has no detection images or truth for them.
    """
    folder = scenario_out / "detection" / "images" / split
    images = sorted(folder.glob("*.jpg"))
    if not images:
        raise FileNotFoundError(f"{folder}: no detection images (export with --parts detection)")
    truths: dict[str, dict[int, list[dict[str, Any]]]] = {}
    samples: list[GateSample] = []
    for path in images:
        camera, index = path.stem.rsplit("_", 1)
        if camera not in truths:
            truth_file = scenario_out / "truth" / f"{camera}.json"
            try:
                doc = json.loads(truth_file.read_text())
            except (OSError, ValueError) as exc:
                raise FileNotFoundError(f"{truth_file}: no readable truth for {path.name} ({exc})") from None
            truths[camera] = {int(f["index"]): f["vehicles"] for f in doc["frames"]}
        vehicles = [v for v in truths[camera].get(int(index), []) if float(v["visibility"]) >= 0.6]
        raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if raw is None:
            raise FileNotFoundError(f"{path}: not a readable image")
        image: Image = np.asarray(raw, np.uint8)
        h, w = image.shape[:2]
        boxes = np.array([v["xyxy"] for v in vehicles], np.float64).reshape(-1, 4)
        for v, box in zip(vehicles, boxes, strict=True):
            if box[3] - box[1] < 12 or box[2] - box[0] < 8:
                continue
            x0, y0, x1, y1 = _jitter(box, rng, w, h)
            samples.append(
                GateSample(
                    image[y0:y1, x0:x1].copy(),
                    1,
                    VEHICLE_TYPES.index(str(v["type"])),
                    COLOURS.index(str(v["colour"])),
                )
            )
            plate = v.get("plate_xyxy")
            if plate is not None and rng.random() < 0.3:
                px0, py0, px1, py1 = (round(float(c)) for c in plate)
                if px1 - px0 >= 8 and py1 - py0 >= 4:
                    samples.append(GateSample(image[py0:py1, px0:px1].copy(), 0, -1, -1))
        for _ in range(negatives_per_image):
            for _attempt in range(20):
                bh = float(rng.uniform(16, max(17.0, h / 3)))
                bw = bh * float(rng.uniform(0.6, 2.0))
                nx = float(rng.uniform(0, max(1.0, w - bw)))
                ny = float(rng.uniform(0, max(1.0, h - bh)))
                box = np.array([nx, ny, min(w, nx + bw), min(h, ny + bh)])
                if len(boxes) == 0 or iou_matrix(box, boxes).max() < 0.3:
                    ix0, iy0, ix1, iy1 = (int(c) for c in box)
                    samples.append(GateSample(image[iy0:iy1, ix0:ix1].copy(), 0, -1, -1))
                    break
    return samples


def _jitter(
    box: npt.NDArray[np.float64], rng: np.random.Generator, w: int, h: int
) -> tuple[int, int, int, int]:
    bw, bh = box[2] - box[0], box[3] - box[1]
    dx0, dy0, dx1, dy1 = rng.uniform(-0.08, 0.08, 4) * np.array([bw, bh, bw, bh])
    x0 = int(np.clip(box[0] + dx0, 0, w - 2))
    y0 = int(np.clip(box[1] + dy0, 0, h - 2))
    x1 = int(np.clip(box[2] + dx1, x0 + 2, w))
    y1 = int(np.clip(box[3] + dy1, y0 + 2, h))
    return x0, y0, x1, y1


@dataclass(frozen=True, slots=True)
class GateReport:
    """Held-out accuracy of the gate (``roadwatch train gate --json`` keys)."""

    vehicle_accuracy: float
    false_accept_rate: float
    false_reject_rate: float
    type_accuracy: float
    colour_accuracy: float
    crops: int
    seconds: float


def train_gate(
    train: list[GateSample], test: list[GateSample], *, steps: int = 1500, seed: int = 0, threads: int = 2
) -> tuple[GateNet, GateReport]:
    """Train the gate on ``train`` (batches of 128, Adam, cosine), score it on ``test``."""
    started = time.monotonic()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    net = GateNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    inputs = torch.from_numpy(gate_input([s.crop for s in train]))
    vehicle = torch.tensor([s.vehicle for s in train])
    types = torch.tensor([s.type for s in train])
    colours = torch.tensor([s.colour for s in train])
    net.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 3e-3 * 0.5 * (1 + np.cos(np.pi * step / steps))
        idx = torch.from_numpy(rng.integers(0, len(train), 128))
        x = inputs[idx]
        if rng.random() < 0.5:
            x = x.flip(3)
        v, t, c = net(x)
        loss = F.cross_entropy(v, vehicle[idx])
        positive = vehicle[idx] == 1
        if positive.any():
            loss = (
                loss
                + F.cross_entropy(t[positive], types[idx][positive])
                + F.cross_entropy(c[positive], colours[idx][positive])
            )
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    net.eval()
    report = score_gate(net, test, time.monotonic() - started)
    return net, report


def score_gate(net: GateNet, samples: list[GateSample], seconds: float = 0.0) -> GateReport:
    """Accuracy of the gate's three outputs on ``samples``."""
    with torch.no_grad():
        v, t, c = net(torch.from_numpy(gate_input([s.crop for s in samples])))
    truth = np.array([s.vehicle for s in samples])
    said = v.argmax(1).numpy()
    positive = truth == 1
    return GateReport(
        vehicle_accuracy=round(float((said == truth).mean()), 4),
        false_accept_rate=round(float((said[~positive] == 1).mean()), 4) if (~positive).any() else 0.0,
        false_reject_rate=round(float((said[positive] == 0).mean()), 4) if positive.any() else 0.0,
        type_accuracy=round(
            float((t.argmax(1).numpy()[positive] == np.array([s.type for s in samples])[positive]).mean()), 4
        ),
        colour_accuracy=round(
            float((c.argmax(1).numpy()[positive] == np.array([s.colour for s in samples])[positive]).mean()),
            4,
        ),
        crops=len(samples),
        seconds=round(seconds, 1),
    )


def export_gate(net: GateNet, path: Path) -> Path:
    """Write ``gate.onnx``: ``images`` ``(N, 3, 64, 64)`` → ``vehicle`` (N,), ``type``, ``colour``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet_onnx_export(
        _Probabilities(net.eval()),
        (torch.zeros(2, 3, *GATE_INPUT),),
        path,
        input_names=["images"],
        output_names=["vehicle", "type", "colour"],
        dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1, max=4096)}},
    )
    strip_metadata(path)
    return path


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's answer for one crop."""

    is_vehicle: bool
    vehicle_probability: float
    type: str
    type_probability: float
    colour: str
    colour_probability: float


class IntentGate:
    """``gate.onnx`` in ONNX Runtime: crops in, :class:`GateResult` out."""

    def __init__(
        self, path: Path, *, threshold: float = 0.5, provider: str = "cpu", threads: int = 1
    ) -> None:
        self.session = open_session(path, provider, threads)
        names = [o.name for o in self.session.get_outputs()]
        if names != ["vehicle", "type", "colour"]:
            raise DetectorModelError(f"{path}: not a roadwatch gate (outputs {names})")
        self.threshold = threshold

    def classify(self, crops: Sequence[npt.NDArray[np.generic]]) -> list[GateResult]:
        """One answer per crop; an empty list for no crops.

        Raises:
            ValueError: A crop is empty or not an image (its index named).
        """
        if not crops:
            return []
        checked = []
        for i, crop in enumerate(crops):
            try:
                checked.append(as_bgr(np.asarray(crop)))
            except ValueError as exc:
                raise ValueError(f"crop {i}: {exc}") from None
        vehicle, types, colours = self.session.run(None, {"images": gate_input(checked)})
        out = []
        for p, t, c in zip(vehicle, types, colours, strict=True):
            ti, ci = int(np.argmax(t)), int(np.argmax(c))
            out.append(
                GateResult(
                    bool(p >= self.threshold),
                    float(p),
                    VEHICLE_TYPES[ti],
                    float(t[ti]),
                    COLOURS[ci],
                    float(c[ci]),
                )
            )
        return out


GREY_SCENE_SATURATION = 12.0  # mean saturation (of 255) below which a picture is infrared


def grey_scene(frame: npt.NDArray[np.uint8]) -> bool:
    """A picture with almost no colour anywhere (an infrared camera's): colour cannot be told."""
    small = cv2.resize(np.ascontiguousarray(frame), (64, 36), interpolation=cv2.INTER_AREA)
    return float(cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[..., 1].mean()) < GREY_SCENE_SATURATION


class ColourNamer:
    """The colour name of a vehicle crop, from the gate's colour head (:data:`COLOURS`), or ``""``
    when it cannot be told: the frame is grey (infrared), or the head is less sure than
    ``min_probability``.

    Args:
        gate: The intent gate.
        min_probability: Least colour probability that is reported.
    """

    def __init__(self, gate: IntentGate, min_probability: float = 0.5) -> None:
        self.gate = gate
        self.min_probability = min_probability

    def __call__(self, crop: npt.NDArray[np.uint8], frame: npt.NDArray[np.uint8]) -> str:
        if crop.ndim != 3 or min(crop.shape[:2]) < 4 or grey_scene(frame):
            return ""
        result = self.gate.classify([crop])[0]
        return result.colour if result.colour_probability >= self.min_probability else ""
