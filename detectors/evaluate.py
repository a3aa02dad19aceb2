"""Detection metrics: AP at IoU 0.5 (all-point interpolation), recall of small plates, timing.

``vehicle_ap50`` scores every vehicle type as one class "vehicle" (the type is a category
for search, scored separately by the intent gate); ``plate_ap50`` scores plates. A prediction
is a true positive when its IoU with a still unmatched ground-truth box of its class is at
least 0.5, taken in descending score order over the whole set (VOC / COCO practice).

Two more rules from common practice:

- **Regions to ignore** (COCO's crowd regions, KITTI's DontCare): objects that are in the
  frame but not labelled (a vehicle mostly cut by the frame edge or hidden, a plate under
  4 px or partly hidden; ``formats.DetectionSample.ignore_xyxy``). A prediction that matches
  no labelled box but lies mostly inside such a region of its kind (intersection ≥ half its
  own area) is left out: neither a true nor a false positive.
- **Score floor**: AP ranks every prediction down to a low score floor (``AP_SCORE_FLOOR``,
  as Detectron evaluates), not only those above the deployment thresholds, which would cut
  the precision/recall curve short at one operating point.

``small_plate_recall`` is the share of ground-truth plates lower than 20 px found at IoU ≥ 0.5
by a plate scoring at least the configured plate threshold (the deployment pipeline).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Detections
from detectors.data import read_samples
from detectors.npbox import in_regions, iou_matrix, match_boxes
from detectors.pipeline import DetectionPipeline

SMALL_PLATE_PX = 20.0
AP_SCORE_FLOOR = 0.05


def _metric(value: float) -> float | None:
    """Rounded, or None (JSON null) when undefined (no ground truth of that kind)."""
    return None if np.isnan(value) else round(float(value), 4)


def average_precision(
    predictions: Sequence[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
    truths: Sequence[npt.NDArray[np.float32]],
    iou_threshold: float = 0.5,
    ignores: Sequence[npt.NDArray[np.float32]] | None = None,
) -> float:
    """AP of one class over a set of images.

    Args:
        predictions: Per image, boxes ``(K, 4)`` and scores ``(K,)``.
        truths: Per image, ground-truth boxes ``(M, 4)``.
        iou_threshold: Minimum IoU of a true positive.
        ignores: Per image, regions to ignore ``(G, 4)``: a prediction that matches no
            ground truth and lies mostly inside one counts neither way.

    Returns:
        Area under the interpolated precision/recall curve; NaN when there is no ground truth.
    """
    total = sum(len(t) for t in truths)
    if total == 0:
        return float("nan")
    entries: list[tuple[float, int, int]] = []  # (score, image, prediction)
    for i, (_, scores) in enumerate(predictions):
        entries += [(float(s), i, k) for k, s in enumerate(scores)]
    entries.sort(key=lambda e: -e[0])
    matched = [np.zeros(len(t), bool) for t in truths]
    overlaps = [
        iou_matrix(np.asarray(p[0], np.float32).reshape(-1, 4), np.asarray(t, np.float32).reshape(-1, 4))
        for p, t in zip(predictions, truths, strict=True)
    ]
    regions: Sequence[npt.ArrayLike | None] = [None] * len(predictions) if ignores is None else ignores
    inside = [in_regions(p[0], g) for p, g in zip(predictions, regions, strict=True)]
    tp = np.zeros(len(entries))
    counted = np.ones(len(entries), bool)
    for n, (_, i, k) in enumerate(entries):
        if len(truths[i]):
            row = np.where(matched[i], -1.0, overlaps[i][k])
            j = int(np.argmax(row))
            if row[j] >= iou_threshold:
                matched[i][j] = True
                tp[n] = 1
                continue
        counted[n] = not inside[i][k]
    tp = tp[counted]
    if not len(tp):
        return 0.0
    cum_tp = np.cumsum(tp)
    recall = cum_tp / total
    precision = cum_tp / np.arange(1, len(tp) + 1)
    # all-point interpolation: precision made monotone from the right, summed over recall steps
    r = np.concatenate([[0.0], recall, [recall[-1]]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def recall_at(
    predictions: Sequence[npt.NDArray[np.float32]],
    truths: Sequence[npt.NDArray[np.float32]],
    iou: float = 0.5,
) -> float:
    """Share of ground-truth boxes overlapped (IoU ≥ ``iou``) by some prediction; NaN when none."""
    total = sum(len(t) for t in truths)
    if total == 0:
        return float("nan")
    hit = 0
    for p, t in zip(predictions, truths, strict=True):
        if len(t) and len(p):
            hit += int((iou_matrix(np.asarray(t, np.float32), np.asarray(p, np.float32)).max(1) >= iou).sum())
    return hit / total


@dataclass(frozen=True, slots=True)
class _Frame:
    image: npt.NDArray[np.uint8]
    vehicles: npt.NDArray[np.float32]
    plates: npt.NDArray[np.float32]
    vehicle_ignore: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    plate_ignore: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 4), np.float32))


def load_frames(data: Path, split: str, plate_class: str = "plate") -> list[_Frame]:
    """Full-resolution frames, their vehicle and plate boxes and regions to ignore (YOLO or COCO)."""
    samples, classes = read_samples(data, split)
    plate_id = classes.index(plate_class) if plate_class in classes else -1
    frames = []
    for sample in samples:
        image = cv2.imread(str(sample.image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{sample.image_path}: not a readable image")
        is_plate = sample.class_id == plate_id
        ignored_plate = sample.ignore_class_id == plate_id
        frames.append(
            _Frame(
                np.asarray(image, np.uint8),
                sample.xyxy[~is_plate].copy(),
                sample.xyxy[is_plate].copy(),
                sample.ignore_xyxy[~ignored_plate].copy(),
                sample.ignore_xyxy[ignored_plate].copy(),
            )
        )
    return frames


def evaluate_detection(
    frames: Sequence[_Frame],
    pipeline: DetectionPipeline,
    single_pass: DetectionPipeline,
    ranked: DetectionPipeline | None = None,
) -> dict[str, Any]:
    """The ``roadwatch eval detect`` keys over ``frames``.

    ``pipeline`` (the configured thresholds) gives the recalls and the timing, ``single_pass``
    the same without the second pass, and ``ranked`` (the same models with both thresholds at
    the AP score floor; default ``pipeline``) the detections AP ranks.
    """
    plate_id = pipeline.spec.plate_id
    found: list[Detections] = []
    times = []
    for frame in frames:
        started = time.perf_counter()
        found.append(pipeline.detect_image(frame.image))
        times.append(1000 * (time.perf_counter() - started))
    single = [single_pass.detect_image(frame.image) for frame in frames]
    listed = found if ranked is None else [ranked.detect_image(frame.image) for frame in frames]

    def part(d: Detections, plates: bool) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        chosen = (d.class_id == plate_id) == plates
        return d.xyxy[chosen], d.confidence[chosen]

    def small(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return boxes[(boxes[:, 3] - boxes[:, 1]) < SMALL_PLATE_PX]

    def plates_above(d: Detections) -> npt.NDArray[np.float32]:
        boxes, scores = part(d, True)
        return boxes[scores >= pipeline.spec.plate_score_threshold]

    small_truth = [small(f.plates) for f in frames]
    vehicle_ap = average_precision(
        [part(d, False) for d in listed],
        [f.vehicles for f in frames],
        ignores=[f.vehicle_ignore for f in frames],
    )
    plate_ap = average_precision(
        [part(d, True) for d in listed], [f.plates for f in frames], ignores=[f.plate_ignore for f in frames]
    )
    return {
        "vehicle_ap50": round(vehicle_ap, 4),
        "plate_ap50": round(plate_ap, 4),
        "small_plate_recall": round(recall_at([plates_above(d) for d in found], small_truth), 4),
        "small_plate_recall_single_pass": round(recall_at([plates_above(d) for d in single], small_truth), 4),
        "small_plates": int(sum(len(t) for t in small_truth)),
        "vehicle_ignore_regions": int(sum(len(f.vehicle_ignore) for f in frames)),
        "plate_ignore_regions": int(sum(len(f.plate_ignore) for f in frames)),
        "ap_score_floor": (ranked or pipeline).spec.score_threshold,
        "frames": len(frames),
        "ms_per_frame": round(float(np.median(times)), 2) if times else 0.0,
    }


def evaluate_openalpr(folder: Path, pipeline: DetectionPipeline, limit: int | None = None) -> dict[str, Any]:
    """Plate recall and precision at IoU ≥ 0.5 on an OpenALPR benchmark folder (real photos).

    Each ground-truth plate is matched to at most one detected plate (highest IoU first);
    precision counts every detected plate scoring at least the plate threshold.
    """
    from formats import read_openalpr

    by_image: dict[Path, list[npt.NDArray[np.float32]]] = {}
    for plate in read_openalpr(folder):
        if plate.xyxy is not None:
            by_image.setdefault(plate.image_path, []).append(np.array(plate.xyxy, np.float32))
    images = sorted(by_image)[:limit]
    plate_id = pipeline.spec.plate_id
    truth_total = found_total = matched = 0
    times = []
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{path}: not a readable image")
        started = time.perf_counter()
        d = pipeline.detect_image(np.asarray(image, np.uint8))
        times.append(1000 * (time.perf_counter() - started))
        keep = (d.class_id == plate_id) & (d.confidence >= pipeline.spec.plate_score_threshold)
        predicted = d.xyxy[keep]
        truth = np.stack(by_image[path])
        truth_total += len(truth)
        found_total += len(predicted)
        matched += len(match_boxes(truth, predicted, 0.5))  # each plate takes its best free detection
    return {
        "plate_recall": round(matched / truth_total, 4) if truth_total else None,
        "plate_precision": round(matched / found_total, 4) if found_total else 0.0,
        "plates": truth_total,
        "detections": found_total,
        "frames": len(images),
        "ms_per_frame": round(float(np.median(times)), 2) if times else 0.0,
    }


def gate_savings(
    frames: Sequence[_Frame],
    pipeline: DetectionPipeline,
    classify: Any,
    embed: Any,
) -> dict[str, Any]:
    """What the intent gate saves behind the detector on ``frames``, all measured here.

    Every vehicle detection's crop goes through the gate (``classify``); each crop it
    rejects would otherwise have been embedded by re-id (``embed``, timed on those very
    crops). A rejected crop is a true rejection when it overlaps no labelled vehicle at
    IoU ≥ 0.5.

    Returns:
        ``gate_crops``, ``gate_rejected``, ``gate_rejected_false`` (rejections of crops that
        were not vehicles), ``gate_ms_per_frame``, ``reid_ms_per_crop`` and
        ``gate_saved_ms_per_frame`` (re-id time of the rejected crops minus the gate's time).
    """
    plate_id = pipeline.spec.plate_id
    crops_total = rejected = rejected_false = 0
    gate_ms = 0.0
    rejected_crops = []
    for frame in frames:
        found = pipeline.detect_image(frame.image)
        boxes = found.xyxy[found.class_id != plate_id]
        crops = [
            frame.image[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] for x0, y0, x1, y1 in boxes
        ]
        keep = [i for i, c in enumerate(crops) if c.size and min(c.shape[:2]) >= 4]
        if not keep:
            continue
        started = time.perf_counter()
        answers = classify([crops[i] for i in keep])
        gate_ms += 1000 * (time.perf_counter() - started)
        crops_total += len(keep)
        overlap = np.max(iou_matrix(boxes[keep], frame.vehicles), axis=1, initial=0.0)
        for j, answer in enumerate(answers):
            if not answer.is_vehicle:
                rejected += 1
                rejected_false += int(overlap[j] < 0.5)
                rejected_crops.append(crops[keep[j]])
    reid_ms = 0.0
    if rejected_crops:
        started = time.perf_counter()
        embed(rejected_crops)
        reid_ms = 1000 * (time.perf_counter() - started) / len(rejected_crops)
    n = max(1, len(frames))
    return {
        "gate_crops": crops_total,
        "gate_rejected": rejected,
        "gate_rejected_false": rejected_false,
        "gate_ms_per_frame": round(gate_ms / n, 3),
        "reid_ms_per_crop": round(reid_ms, 3),
        "gate_saved_ms_per_frame": round((rejected * reid_ms - gate_ms) / n, 3),
    }
