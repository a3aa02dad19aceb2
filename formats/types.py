"""The samples every reader returns and every writer takes, and the one error they raise."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt


class DatasetError(Exception):
    """A dataset file cannot be read or written as asked.

    The message is one line, ``<source>[:<line>]: <problem>``.

    Args:
        source: The file (or file name) the problem is in.
        problem: What is wrong, for a person; names the entry (annotation id, box index) when useful.
        line: 1-based line number in ``source``, when the problem is on one line.
    """

    def __init__(self, source: str | Path, problem: str, *, line: int | None = None) -> None:
        self.source = str(source)
        self.problem = " ".join(problem.splitlines())
        self.line = line
        where = self.source if line is None else f"{self.source}:{line}"
        super().__init__(f"{where}: {self.problem}")


def _frozen_array(value: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[np.generic]:
    """A read-only copy, so a sample never shares memory with its caller's array."""
    array = np.array(value, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, slots=True)
class DetectionSample:
    """One image with its axis-aligned object boxes, and regions to ignore.

    Attributes:
        image_path: The image file.
        width: Image width in pixels (> 0).
        height: Image height in pixels (> 0).
        xyxy: ``(N, 4)`` float32 pixel boxes ``x1, y1, x2, y2`` with ``x1 <= x2``, ``y1 <= y2``;
            N may be 0. Stored as a read-only copy.
        class_id: ``(N,)`` int32 class indices (>= 0). Stored as a read-only copy.
        ignore_xyxy: ``(M, 4)`` "don't care" regions: objects that are in the image but not
            labelled (cut by the frame edge, hidden, or too small), with their classes in
            ``ignore_class_id``. A detection on one is neither right nor wrong (COCO's crowd
            regions, KITTI's DontCare). Empty by default.
        ignore_class_id: ``(M,)`` int32 class of each ignore region.

    Raises:
        ValueError: Shapes disagree, a value is not finite, a box is inverted, a class id is
            negative or not a whole number, or the size is not positive.
    """

    image_path: Path
    width: int
    height: int
    xyxy: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    ignore_xyxy: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    ignore_class_id: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(
                f"{self.image_path}: image size must be positive, got {self.width}x{self.height}"
            )
        for boxes, ids, what in (
            ("xyxy", "class_id", "box"),
            ("ignore_xyxy", "ignore_class_id", "ignore region"),
        ):
            xyxy, class_id = _checked_boxes(
                self.image_path, getattr(self, boxes), getattr(self, ids), boxes, ids, what
            )
            object.__setattr__(self, boxes, xyxy)
            object.__setattr__(self, ids, class_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DetectionSample):
            return NotImplemented
        return (
            self.image_path == other.image_path
            and (self.width, self.height) == (other.width, other.height)
            and np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.class_id, other.class_id)
            and np.array_equal(self.ignore_xyxy, other.ignore_xyxy)
            and np.array_equal(self.ignore_class_id, other.ignore_class_id)
        )


def _checked_boxes(
    image: Path, boxes: npt.ArrayLike, ids: npt.ArrayLike, name: str, id_name: str, what: str
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic]]:
    """Read-only float32 ``(N, 4)`` boxes and int32 ``(N,)`` class ids, checked; errors use the
    field names ``name`` / ``id_name`` and call one box a ``what``."""
    xyxy = np.asarray(boxes, dtype=np.float64)
    if xyxy.size == 0:
        xyxy = xyxy.reshape(0, 4)
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise ValueError(f"{image}: {name} must have shape (N, 4), got {xyxy.shape}")
    raw_ids = np.asarray(ids)
    if raw_ids.shape != (xyxy.shape[0],):
        raise ValueError(f"{image}: {id_name} must have shape ({xyxy.shape[0]},), got {raw_ids.shape}")
    if not np.all(np.isfinite(xyxy)):
        raise ValueError(f"{image}: {name} holds a value that is not finite")
    inverted = np.flatnonzero((xyxy[:, 0] > xyxy[:, 2]) | (xyxy[:, 1] > xyxy[:, 3]))
    if inverted.size:
        i = int(inverted[0])
        raise ValueError(f"{image}: {what} {i} {xyxy[i].tolist()} has x1 > x2 or y1 > y2")
    if raw_ids.size and not np.array_equal(raw_ids, np.round(raw_ids.astype(np.float64))):
        raise ValueError(f"{image}: {id_name} must hold whole numbers, got {raw_ids.tolist()}")
    if raw_ids.size and int(raw_ids.min()) < 0:
        raise ValueError(f"{image}: {id_name} must be >= 0, got {raw_ids.tolist()}")
    return _frozen_array(xyxy, np.float32), _frozen_array(raw_ids.astype(np.int64), np.int32)


@dataclass(frozen=True, slots=True)
class PlateSample:
    """One licence plate in one image.

    Attributes:
        image_path: The image the coordinates refer to (a full photo or a crop).
        text: Plate text as printed, without spaces ('' when unknown).
        xyxy: Plate box ``(x1, y1, x2, y2)`` in pixels, or None when unknown.
        corners: ``(4, 2)`` float32 pixel corners in the order top-left, top-right,
            bottom-right, bottom-left, or None when unknown. Stored as a read-only copy.
        plate_format: Plate family such as ``"eu"``, ``"us"``, ``"cn"``, or None.
        lines: Rows of characters, 1 or 2 (motorcycle plates, the rear of large CN vehicles),
            or None when unknown.

    Raises:
        ValueError: The text holds whitespace, a coordinate is not finite, the box is
            inverted, the corners are not ``(4, 2)``, or ``lines`` is not 1, 2 or None.
    """

    image_path: Path
    text: str
    xyxy: tuple[float, float, float, float] | None
    corners: npt.NDArray[np.float32] | None
    plate_format: str | None = None
    lines: int | None = None

    def __post_init__(self) -> None:
        if self.lines not in (None, 1, 2):
            raise ValueError(f"{self.image_path}: plate lines must be 1 or 2, got {self.lines!r}")
        if any(ch.isspace() for ch in self.text):
            raise ValueError(f"{self.image_path}: plate text must not hold whitespace, got {self.text!r}")
        if self.xyxy is not None:
            box = tuple(float(v) for v in self.xyxy)
            if len(box) != 4 or not all(math.isfinite(v) for v in box):
                raise ValueError(f"{self.image_path}: plate xyxy must be 4 finite numbers, got {self.xyxy!r}")
            if box[0] > box[2] or box[1] > box[3]:
                raise ValueError(f"{self.image_path}: plate box {list(box)} has x1 > x2 or y1 > y2")
            object.__setattr__(self, "xyxy", box)
        if self.corners is not None:
            corners = np.asarray(self.corners, dtype=np.float64)
            if corners.shape != (4, 2):
                raise ValueError(
                    f"{self.image_path}: plate corners must have shape (4, 2), got {corners.shape}"
                )
            if not np.all(np.isfinite(corners)):
                raise ValueError(f"{self.image_path}: plate corners hold a value that is not finite")
            object.__setattr__(self, "corners", _frozen_array(corners, np.float32))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlateSample):
            return NotImplemented
        if self.corners is None or other.corners is None:
            same_corners = self.corners is None and other.corners is None
        else:
            same_corners = np.array_equal(self.corners, other.corners)
        mine = (self.image_path, self.text, self.xyxy, self.plate_format, self.lines)
        theirs = (other.image_path, other.text, other.xyxy, other.plate_format, other.lines)
        return same_corners and mine == theirs


@dataclass(frozen=True, slots=True)
class ReidSample:
    """One vehicle crop with its identity, for re-identification.

    Attributes:
        image_path: The crop file.
        identity: Vehicle id (>= 0).
        camera: Camera name such as ``"c001"``.
        frame: Frame number the crop was taken from, when known (>= 0).
        plate: The plate inside this crop (crop pixel coordinates), when known.

    Raises:
        ValueError: Negative identity or frame, or an empty camera name.
    """

    image_path: Path
    identity: int
    camera: str
    frame: int | None = None
    plate: PlateSample | None = None

    def __post_init__(self) -> None:
        if self.identity < 0:
            raise ValueError(f"{self.image_path}: identity must be >= 0, got {self.identity}")
        if not self.camera:
            raise ValueError(f"{self.image_path}: camera name must not be empty")
        if self.frame is not None and self.frame < 0:
            raise ValueError(f"{self.image_path}: frame must be >= 0, got {self.frame}")
