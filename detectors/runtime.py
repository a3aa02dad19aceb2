"""Run the exported two-stage detector in ONNX Runtime (CPU or CUDA provider).

Same arithmetic as :meth:`detectors.twostage.TwoStageDetector.detect`: per level the top
``pre_nms`` anchors by objectness are decoded, clipped and filtered; NMS at 0.7 keeps at most
``post_nms`` proposals per image; each proposal is pooled from the level that suits its size
(ONNX ``RoiAlign``), classified and refined; per-class NMS gives the detections. Images of a
batch (several cameras, or several second-pass regions) share one call of each graph.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from detectors.npbox import batched_nms, kind_scores
from detectors.pipeline import Found

log = logging.getLogger(__name__)
RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
MAX_LOG_SCALE = math.log(1000.0 / 16)
F32 = npt.NDArray[np.float32]


class DetectorModelError(Exception):
    """The ONNX files are missing, truncated or not a roadwatch detector; one line for the user."""


@dataclass(frozen=True, slots=True)
class DetectorMeta:
    """What the feature graph's metadata says about the model."""

    classes: tuple[str, ...]
    strides: tuple[int, ...]
    anchor_sizes: tuple[tuple[float, ...], ...]
    anchor_ratios: tuple[float, ...]
    canonical: float
    pre_nms: int
    post_nms: int
    input_size: tuple[int, int]


def execution_providers(provider: str) -> tuple[str, ...]:
    """ONNX Runtime providers for ``cpu`` or ``cuda``: CUDA first, the CPU as fallback; the CPU
    alone, with a warning, where this ONNX Runtime has no CUDA provider."""
    if provider != "cuda":
        return ("CPUExecutionProvider",)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        log.warning("provider cuda: this ONNX Runtime has no CUDA provider; running on the CPU")
        return ("CPUExecutionProvider",)
    return ("CUDAExecutionProvider", "CPUExecutionProvider")


def open_session(path: Path, provider: str, threads: int) -> ort.InferenceSession:
    """An ONNX Runtime session (CPU or CUDA provider, spinning off so sessions don't fight).

    Raises:
        DetectorModelError: The file is missing or not a loadable ONNX model.
    """
    if not path.is_file():
        raise DetectorModelError(f"{path}: no such model file")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=list(execution_providers(provider)))
    except Exception as exc:  # onnxruntime raises its own unexported exception types
        raise DetectorModelError(
            f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})"
        ) from None


def _map_size(m: Any) -> tuple[int, int]:
    """Height and width of a pyramid map: a numpy array or an ONNX Runtime value."""
    shape = m.shape() if callable(m.shape) else m.shape
    return int(shape[2]), int(shape[3])


def decode(deltas: F32, reference: F32, weights: tuple[float, float, float, float]) -> F32:
    """Numpy twin of :func:`detectors.boxes.decode`."""
    rw = reference[:, 2] - reference[:, 0]
    rh = reference[:, 3] - reference[:, 1]
    rx = reference[:, 0] + 0.5 * rw
    ry = reference[:, 1] + 0.5 * rh
    cx = deltas[:, 0] / weights[0] * rw + rx
    cy = deltas[:, 1] / weights[1] * rh + ry
    w = np.exp(np.minimum(deltas[:, 2] / weights[2], MAX_LOG_SCALE)) * rw
    h = np.exp(np.minimum(deltas[:, 3] / weights[3], MAX_LOG_SCALE)) * rh
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], 1).astype(np.float32)


def make_anchors(
    size: tuple[int, int], stride: int, sizes: tuple[float, ...], ratios: tuple[float, ...]
) -> F32:
    """Numpy twin of :func:`detectors.boxes.make_anchors`."""
    h, w = size
    shapes = []
    for s in sizes:
        for r in ratios:
            bw = s / math.sqrt(r)
            shapes.append((-bw / 2, -bw * r / 2, bw / 2, bw * r / 2))
    base = np.array(shapes, np.float32)
    ys = (np.arange(h, dtype=np.float32) + 0.5) * stride
    xs = (np.arange(w, dtype=np.float32) + 0.5) * stride
    cy, cx = np.meshgrid(ys, xs, indexing="ij")
    centres = np.stack([cx, cy, cx, cy], -1).reshape(-1, 1, 4)
    return (centres + base[None]).reshape(-1, 4).astype(np.float32)


class OnnxDetector:
    """The exported detector as a :data:`detectors.pipeline.Runner`."""

    def __init__(
        self,
        features: Path,
        head: Path,
        *,
        provider: str = "cpu",
        threads: int = 2,
        score_floor: float = 0.05,
        iou: float = 0.5,
        proposals: int | None = None,
        io_binding: bool | None = None,
    ) -> None:
        self.features = open_session(features, provider, threads)
        self.head = open_session(head, provider, threads)
        on_gpu = "CUDAExecutionProvider" in self.features.get_providers()
        self.device = "cuda" if on_gpu else "cpu"
        # I/O binding keeps the pyramid maps where the features graph wrote them (GPU memory)
        # for the head graph, instead of a round trip through host memory; default on a GPU.
        self.io_binding = on_gpu if io_binding is None else io_binding
        raw = self.features.get_modelmeta().custom_metadata_map.get("roadwatch.detector")
        if raw is None:
            raise DetectorModelError(f"{features}: not a roadwatch detector (no roadwatch.detector metadata)")
        meta: dict[str, Any] = json.loads(raw)
        self.meta = DetectorMeta(
            classes=tuple(meta["classes"]),
            strides=tuple(meta["strides"]),
            anchor_sizes=tuple(tuple(s) for s in meta["anchor_sizes"]),
            anchor_ratios=tuple(meta["anchor_ratios"]),
            canonical=float(meta["canonical"]),
            pre_nms=int(meta["pre_nms"]),
            post_nms=int(meta["post_nms"]) if proposals is None else proposals,
            input_size=(int(meta["input_size"][0]), int(meta["input_size"][1])),
        )
        self.score_floor = score_floor
        self.iou = iou
        self._anchors: dict[tuple[int, int], list[F32]] = {}

    def limited(self, proposals: int | None) -> OnnxDetector:
        """The same sessions, classifying at most ``proposals`` proposals per image (None: as
        this one does): a second pass's small windows need far fewer than a whole frame."""
        if proposals is None or proposals == self.meta.post_nms:
            return self
        view = copy.copy(self)
        view.meta = dataclasses.replace(self.meta, post_nms=proposals)
        return view

    def _anchors_for(self, maps: list[Any]) -> list[F32]:
        sizes = [_map_size(m) for m in maps]
        if sizes[0] not in self._anchors:
            self._anchors[sizes[0]] = [
                make_anchors(size, s, sides, self.meta.anchor_ratios)
                for size, s, sides in zip(sizes, self.meta.strides, self.meta.anchor_sizes, strict=True)
            ]
        return self._anchors[sizes[0]]

    def _run_features(self, batch: F32) -> tuple[list[F32], list[F32], list[Any]]:
        """Objectness and deltas per level (host memory), and the pyramid maps: numpy arrays, or
        with I/O binding ONNX Runtime values left on the device."""
        levels = len(self.meta.strides)
        if not self.io_binding:
            outputs = self.features.run(None, {"images": batch})
            return outputs[:levels], outputs[levels : 2 * levels], outputs[2 * levels :]
        binding = self.features.io_binding()
        binding.bind_cpu_input("images", batch)
        names = [o.name for o in self.features.get_outputs()]
        for i, name in enumerate(names):
            binding.bind_output(name, self.device if i >= 2 * levels else "cpu")
        self.features.run_with_iobinding(binding)
        values = binding.get_outputs()
        host = [v.numpy() for v in values[: 2 * levels]]
        return host[:levels], host[levels:], list(values[2 * levels :])

    def _run_head(self, maps: list[Any], feeds: dict[str, np.ndarray]) -> list[F32]:
        if not self.io_binding:
            outputs: list[F32] = self.head.run(None, {**{f"map{i}": m for i, m in enumerate(maps)}, **feeds})
            return outputs
        binding = self.head.io_binding()
        for i, value in enumerate(maps):
            binding.bind_ortvalue_input(f"map{i}", value)
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        for output in self.head.get_outputs():
            binding.bind_output(output.name, "cpu")
        self.head.run_with_iobinding(binding)
        return [v.numpy() for v in binding.get_outputs()]

    def __call__(self, batch: F32) -> list[Found]:
        """Detections per image of ``batch`` ``(N, 3, H, W)`` (H, W multiples of 32), in input pixels."""
        n, _, height, width = batch.shape
        if height % 32 or width % 32:
            raise ValueError(f"input sides must be multiples of 32, got {height}x{width}")
        scores, deltas, maps = self._run_features(batch)
        anchors = self._anchors_for(maps)
        proposals = [self._proposals(i, scores, deltas, anchors, (height, width)) for i in range(n)]
        return self._classify(maps, proposals, (height, width))

    def _proposals(
        self, i: int, scores: list[F32], deltas: list[F32], anchors: list[F32], size: tuple[int, int]
    ) -> F32:
        boxes, objectness, groups = [], [], []
        for lvl, (s, d, a) in enumerate(zip(scores, deltas, anchors, strict=True)):
            k = min(self.meta.pre_nms, s.shape[1])
            top = np.argpartition(-s[i], k - 1)[:k] if k < s.shape[1] else np.arange(s.shape[1])
            b = decode(d[i, top], a[top], RPN_WEIGHTS)
            b[:, 0::2] = b[:, 0::2].clip(0, size[1])
            b[:, 1::2] = b[:, 1::2].clip(0, size[0])
            boxes.append(b)
            objectness.append(s[i, top])
            groups.append(np.full(len(top), lvl, np.int64))
        b, o, g = np.concatenate(boxes), np.concatenate(objectness), np.concatenate(groups)
        wide = ((b[:, 2] - b[:, 0]) > 1) & ((b[:, 3] - b[:, 1]) > 1)
        b, o, g = b[wide], o[wide], g[wide]
        keep = batched_nms(b, o, g, 0.7, self.meta.post_nms)
        return b[keep]

    def _classify(self, maps: list[Any], proposals: list[F32], size: tuple[int, int]) -> list[Found]:
        levels = len(maps)
        boxes = np.concatenate(proposals) if proposals else np.zeros((0, 4), np.float32)
        owner = np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate(proposals)])
        side = np.sqrt((boxes[:, 2] - boxes[:, 0]).clip(1) * (boxes[:, 3] - boxes[:, 1]).clip(1))
        level = np.floor(levels // 2 + np.log2(side / self.meta.canonical + 1e-6) + 0.5).clip(0, levels - 1)
        feeds: dict[str, np.ndarray] = {}
        order = []
        for lvl in range(levels):
            chosen = np.flatnonzero(level == lvl)
            order.append(chosen)
            rois = boxes[chosen] if len(chosen) else np.zeros((1, 4), np.float32)  # RoiAlign needs one box
            index = owner[chosen] if len(chosen) else np.zeros(1, np.int64)
            feeds[f"rois{lvl}"] = np.ascontiguousarray(rois, np.float32)
            feeds[f"index{lvl}"] = np.ascontiguousarray(index, np.int64)
        logits, box_deltas = self._run_head(maps, feeds)
        real = np.concatenate([np.ones(max(1, len(c)), bool) if len(c) else np.zeros(1, bool) for c in order])
        logits, box_deltas = logits[real], box_deltas[real]
        ordered = np.concatenate(order)
        boxes, owner = boxes[ordered], owner[ordered]
        exp = np.exp(logits - logits.max(1, keepdims=True))
        probs = exp / exp.sum(1, keepdims=True)
        refined = decode(box_deltas.astype(np.float32), boxes, HEAD_WEIGHTS)
        refined[:, 0::2] = refined[:, 0::2].clip(0, size[1])
        refined[:, 1::2] = refined[:, 1::2].clip(0, size[0])
        classes = self.meta.classes
        label, score, kind = kind_scores(probs, classes.index("plate") if "plate" in classes else None)
        found: list[Found] = []
        for i in range(len(proposals)):
            mine = (owner == i) & (score >= self.score_floor)
            b, s, c = refined[mine], score[mine], label[mine]
            keep = batched_nms(b, s, kind[mine], self.iou)  # a vehicle is one box whatever its type
            found.append((b[keep], s[keep], c[keep]))
        return found
