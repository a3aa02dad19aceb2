"""Frame → vehicles and their plates: first pass on the whole frame, second pass on small regions.

Seed 000's flow, made concrete for traffic cameras:

1. **First pass**: the frame is letterboxed to the network input and run once; boxes come
   back in frame pixels.
2. **Potential recognition regions**: a plate candidate lower than ``small_plate_px``, and a
   vehicle lower than ``small_vehicle_px`` with no plate found inside it (its plate may be too
   small for the first pass to see).
3. **Second pass**: each region is cut out with its surroundings (``second_input / upsample``
   pixels around a plate; the vehicle box with a margin, at most ``upsample`` times enlarged)
   and up-sampled to ``second_input``; all regions of a frame run through the same network
   in one batch. Plates found there replace the first-pass plates they overlap and add the
   ones the first pass missed; a small vehicle's class and box come from the second pass when
   it finds the vehicle again, whole: a box the window's edge cuts (where that edge is not the
   frame's) is a part of a vehicle and replaces nothing. Boxes of both passes then go through
   one NMS per kind (vehicle, plate).
4. Plates are assigned to the vehicle that contains them (``Detections.parent``); a vehicle
   may have more than one plate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.base import Detections
from detectors.data import as_bgr, crop_region, letterbox, to_tensor_input
from detectors.npbox import batched_nms, clip_boxes, iou_matrix

# A network runner: ``(N, 3, H, W)`` float32 input → per image (boxes (K, 4), scores (K,),
# 0-based class ids (K,)) in input pixels.
Found = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]
Runner = Callable[[npt.NDArray[np.float32]], list[Found]]


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """Sizes and thresholds of the two passes."""

    classes: tuple[str, ...]
    plate_class: str = "plate"
    first_input: tuple[int, int] = (384, 640)
    second_input: tuple[int, int] = (192, 320)
    score_threshold: float = 0.3
    plate_score_threshold: float = 0.3
    small_plate_px: float = 24.0
    small_vehicle_px: float = 160.0
    upsample: float = 3.0
    second_pass: bool = True
    max_regions: int = 16

    @property
    def plate_id(self) -> int:
        """0-based class id of plates."""
        return self.classes.index(self.plate_class)


@dataclass(frozen=True, slots=True)
class PassTimings:
    """Milliseconds spent per pass on the last frame, and how many regions had a second pass."""

    first_ms: float
    second_ms: float
    regions: int


class DetectionPipeline:
    """Two-pass vehicle and plate detection over any frame size."""

    def __init__(self, runner: Runner, spec: PipelineSpec, second_runner: Runner | None = None) -> None:
        self.runner = runner
        self.second_runner = runner if second_runner is None else second_runner
        self.spec = spec
        self.last = PassTimings(0.0, 0.0, 0)

    def detect_image(self, image: npt.NDArray[np.generic]) -> Detections:
        """Detections in one BGR/grey/BGRA frame (any size), in frame pixels.

        Raises:
            ValueError: Not an image (empty, wrong dtype or channel count).
        """
        return self.detect_images([image])[0]

    def detect_images(self, images: list[npt.NDArray[np.generic]]) -> list[Detections]:
        """Detections of several frames: their first passes in one batch (one network call, as
        cheap per frame as the network's batching makes it), then each frame's second pass.

        Raises:
            ValueError: One of them is not an image.
        """
        frames = [as_bgr(image) for image in images]
        started = time.perf_counter()
        views, fits = zip(*(letterbox(frame, self.spec.first_input) for frame in frames), strict=True)
        found = self.runner(to_tensor_input(list(views)))
        first = (time.perf_counter() - started) / max(1, len(frames))
        out = []
        for frame, fit, (boxes, scores, classes) in zip(frames, fits, found, strict=True):
            began = time.perf_counter()
            boxes = clip_boxes(boxes / fit.scale, frame.shape[:2])
            keep = scores >= np.where(
                classes == self.spec.plate_id, self.spec.plate_score_threshold, self.spec.score_threshold
            )
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
            regions = 0
            if self.spec.second_pass:
                boxes, scores, classes, regions = self._second_pass(frame, boxes, scores, classes)
            self.last = PassTimings(1000 * first, 1000 * (time.perf_counter() - began), regions)
            out.append(_with_parents(boxes, scores, classes, self.spec.plate_id))
        return out

    def plates_in(self, image: npt.NDArray[np.generic], vehicles: Detections) -> Detections:
        """Plates of vehicles found by another detector: every vehicle gets the second pass.

        ``vehicles.class_id`` must index :attr:`PipelineSpec.classes`. Returns the vehicles
        (refined where the second pass found them again) and their plates.
        """
        frame = as_bgr(image)
        boxes, scores, classes, regions = self._second_pass(
            frame,
            vehicles.xyxy.astype(np.float32),
            vehicles.confidence.astype(np.float32),
            vehicles.class_id.astype(np.int64),
            vehicle_px=float("inf"),
        )
        self.last = PassTimings(0.0, 0.0, regions)
        return _with_parents(boxes, scores, classes, self.spec.plate_id)

    def _second_pass(
        self,
        frame: npt.NDArray[np.uint8],
        boxes: npt.NDArray[np.float32],
        scores: npt.NDArray[np.float32],
        classes: npt.NDArray[np.int64],
        vehicle_px: float | None = None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64], int]:
        spec = self.spec
        small_vehicle = spec.small_vehicle_px if vehicle_px is None else vehicle_px
        is_plate = classes == spec.plate_id
        heights = boxes[:, 3] - boxes[:, 1]
        regions: list[tuple[int, tuple[float, float], tuple[float, float]]] = []  # (box index, centre, size)
        sh, sw = spec.second_input
        for i in np.argsort(heights):
            x1, y1, x2, y2 = boxes[i].tolist()
            centre = ((x1 + x2) / 2, (y1 + y2) / 2)
            if is_plate[i] and heights[i] < spec.small_plate_px:
                regions.append((int(i), centre, (sh / spec.upsample, sw / spec.upsample)))
            elif not is_plate[i] and heights[i] < small_vehicle and not _has_plate(boxes[i], boxes[is_plate]):
                w = max((x2 - x1) * 1.3, (y2 - y1) * 1.3 * sw / sh, sw / spec.upsample)
                regions.append((int(i), centre, (w * sh / sw, w)))
            if len(regions) >= spec.max_regions:
                break
        if not regions:
            return boxes, scores, classes, 0
        crops, placements = [], []
        for _, centre, size in regions:
            crop, scale, origin = crop_region(frame, centre, size, spec.second_input)
            crops.append(crop)
            placements.append((scale, origin))
        results = self.second_runner(to_tensor_input(crops))
        add_boxes, add_scores, add_classes = [boxes], [scores], [classes]
        drop = np.zeros(len(boxes), bool)
        for (index, _, _), (scale, (x0, y0)), (b, s, c) in zip(regions, placements, results, strict=True):
            found = b / scale + np.array([x0, y0, x0, y0], np.float32)
            threshold = np.where(c == spec.plate_id, spec.plate_score_threshold, spec.score_threshold)
            found, s, c = found[s >= threshold], s[s >= threshold], c[s >= threshold]
            plates = c == spec.plate_id
            if is_plate[index]:
                # the candidate's own refinement: the second pass's best plate over it
                overlap = iou_matrix(boxes[index], found[plates])[0]
                if overlap.size and overlap.max() > 0.1:
                    j = np.flatnonzero(plates)[int(np.argmax(overlap))]
                    drop[index] = True
                    add_boxes.append(found[j : j + 1])
                    add_scores.append(s[j : j + 1])
                    add_classes.append(c[j : j + 1])
                continue
            vehicle = boxes[index]
            inside = plates & _contained(found, vehicle)
            add_boxes.append(found[inside])
            add_scores.append(s[inside])
            add_classes.append(c[inside])
            # a vehicle the window cuts is a part of one: it never replaces the first pass's box
            vehicles = ~plates & ~_cut_by_window(found, (x0, y0), (sh / scale, sw / scale), frame.shape[:2])
            if vehicles.any():
                overlap = iou_matrix(vehicle[None], found[vehicles])[0]
                if overlap.max() > 0.5:
                    j = np.flatnonzero(vehicles)[int(np.argmax(overlap))]
                    drop[index] = True
                    add_boxes.append(found[j : j + 1])
                    add_scores.append(s[j : j + 1])
                    add_classes.append(c[j : j + 1])
        add_boxes[0], add_scores[0], add_classes[0] = boxes[~drop], scores[~drop], classes[~drop]
        merged = np.concatenate(add_boxes), np.concatenate(add_scores), np.concatenate(add_classes)
        # one NMS per kind, as in the first pass: a car box and an suv box are one vehicle
        kinds = (merged[2] == spec.plate_id).astype(np.int64)
        keep = np.sort(batched_nms(merged[0], merged[1], kinds, 0.5))
        return merged[0][keep], merged[1][keep], merged[2][keep], len(regions)


def _cut_by_window(
    boxes: npt.NDArray[np.float32],
    origin: tuple[float, float],
    size: tuple[float, float],
    frame: tuple[int, int],
    tolerance: float = 2.0,
) -> npt.NDArray[np.bool_]:
    """Which boxes touch an edge of the second pass's window that lies inside the frame.

    Such a box is what the window let through of something larger (a roof, half a motorcycle),
    not a vehicle in full; window edges on the frame's own border cut nothing. ``origin``
    (x, y) and ``size`` (h, w) place the window in frame pixels, ``frame`` is (h, w).
    """
    x0, y0 = origin
    x1, y1 = x0 + size[1], y0 + size[0]
    h, w = frame
    cut = np.zeros(len(boxes), bool)
    if x0 > tolerance:
        cut |= boxes[:, 0] <= x0 + tolerance
    if y0 > tolerance:
        cut |= boxes[:, 1] <= y0 + tolerance
    if x1 < w - tolerance:
        cut |= boxes[:, 2] >= x1 - tolerance
    if y1 < h - tolerance:
        cut |= boxes[:, 3] >= y1 - tolerance
    return cut


def _contained(boxes: npt.NDArray[np.float32], outer: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Which boxes have their centre inside ``outer``."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    inside: npt.NDArray[np.bool_] = (cx >= outer[0]) & (cx <= outer[2]) & (cy >= outer[1]) & (cy <= outer[3])
    return inside


def _has_plate(vehicle: npt.NDArray[np.float32], plates: npt.NDArray[np.float32]) -> bool:
    return bool(len(plates)) and bool(_contained(plates, vehicle).any())


def _with_parents(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    classes: npt.NDArray[np.int64],
    plate_id: int,
) -> Detections:
    parent = np.full(len(boxes), -1, np.int32)
    vehicles = np.flatnonzero(classes != plate_id)
    for i in np.flatnonzero(classes == plate_id):
        holders = [v for v in vehicles if _contained(boxes[i : i + 1], boxes[v])[0]]
        if holders:  # the smallest vehicle box that contains the plate's centre
            areas = [float(np.prod(boxes[v, 2:] - boxes[v, :2])) for v in holders]
            parent[i] = holders[int(np.argmin(areas))]
    return Detections(
        boxes.astype(np.float32).reshape(-1, 4),
        scores.astype(np.float32),
        classes.astype(np.int32),
        parent,
    )


def torch_runner(model: object, score_floor: float = 0.05) -> Runner:
    """A :data:`Runner` over a :class:`~detectors.twostage.TwoStageDetector` (reference, training)."""
    import torch

    from detectors.twostage import TwoStageDetector

    assert isinstance(model, TwoStageDetector)

    def run(batch: npt.NDArray[np.float32]) -> list[Found]:
        found = model.detect(torch.from_numpy(batch), score_threshold=score_floor)
        return [
            (
                d.boxes.numpy().astype(np.float32),
                d.scores.numpy().astype(np.float32),
                (d.labels - 1).numpy().astype(np.int64),
            )
            for d in found
        ]

    return run


__all__ = ["DetectionPipeline", "Found", "PipelineSpec", "Runner", "torch_runner"]
