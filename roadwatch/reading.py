"""Plates read from whole images: detection, rectification, reading, and the score against labels.

App layer: it composes the detector (:mod:`detectors`) and the reader (:mod:`plates`).

``read_image`` finds plates, rectifies each from its corners and reads them all in one batch;
a candidate whose read is unreadable (no text, under the confidence floor, or fitting no
configured region) is dropped there: reading verifies detection.

``score_plates`` matches reads to labelled plates (IoU ≥ 0.3, each label taking its
best-overlapping read) and counts what ``roadwatch eval plates`` reports.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.corners import plate_corners
from detectors.npbox import iou_matrix, match_boxes, smaller_overlap_matrix
from detectors.stage import PLATE, DetectionStage
from plates.formats import normalise
from plates.read import PlateRead
from plates.reader import FormattedReader
from reid.data import TWO_LINE_ASPECT, rectify_plate

Box = tuple[float, float, float, float]
READ_SIZE = (48, 192)  # rectified plates handed to the reader; two rows side by side
MATCH_IOU = 0.3
MIN_READ_PX = 10.0  # plates lower than this are not read (the world's readable floor)
CONTAINED = 0.6  # a read box this much inside another read's box repeats it
MAX_PHOTO_PIXELS = 150_000_000  # a 12000x9000 photo passes; a decompression bomb does not


@dataclass(frozen=True, slots=True)
class FoundPlate:
    """One plate of an image and what it says."""

    box: Box
    detection_score: float
    read: PlateRead


def read_image(
    image: npt.NDArray[np.uint8], detector: DetectionStage, reader: FormattedReader
) -> list[FoundPlate]:
    """Readable plates of one BGR image (module docstring): candidates that read as nothing,
    plates lower than :data:`MIN_READ_PX`, and repeats of a plate already found are dropped."""
    found = detector.detect_image(image)
    rows = [i for i in np.argsort(-found.confidence) if found.class_id[i] == PLATE]
    quads = [plate_corners(image, found.xyxy[i]) for i in rows]
    keep = [k for k, quad in enumerate(quads) if _height(quad) >= MIN_READ_PX]
    crops = [rectify_plate(image, quads[k], READ_SIZE, TWO_LINE_ASPECT) for k in keep]
    out: list[FoundPlate] = []
    for k, read in zip(keep, reader.read(crops), strict=True):
        if not read.readable:
            continue
        quad = quads[k]
        low, high = quad.min(0), quad.max(0)
        box = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
        if any(_repeats(box, read.text, seen) for seen in out):
            continue
        out.append(FoundPlate(box, float(found.confidence[rows[k]]), read))
    return out


def _height(quad: npt.NDArray[np.float32]) -> float:
    """Mean height of a plate quad (TL, TR, BR, BL)."""
    return float((np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2)


def _repeats(box: Box, text: str, seen: FoundPlate) -> bool:
    """A read that repeats a better-scored one: the same text, or a box mostly inside (or
    around) the other's, as a second detection of one plate gives."""
    return text == seen.read.text or smaller_overlap_matrix(box, seen.box)[0, 0] >= CONTAINED


@dataclass(frozen=True, slots=True)
class LabelledImage:
    """An image to score: how to load it, its labelled plates and regions not to count.

    Attributes:
        name: For messages (file name, or camera and frame).
        load: Returns the BGR image (raises ``OSError`` when it cannot).
        plates: ``(box, text)`` of each labelled plate.
        ignore: Boxes of plates nobody can read (too small, hidden): reads there are neither
            right nor false.
    """

    name: str
    load: Callable[[], npt.NDArray[np.uint8]]
    plates: tuple[tuple[Box, str], ...]
    ignore: tuple[Box, ...] = ()


@dataclass
class PlateScore:
    """Counts of ``roadwatch eval plates`` (keys of :meth:`summary`)."""

    images: int = 0
    plates_truth: int = 0
    plates_detected: int = 0
    exact: int = 0
    false_reads: int = 0
    ms: list[float] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    misreads: list[tuple[str, str, str]] = field(default_factory=list)  # image, truth, read

    def summary(self) -> dict[str, Any]:
        """The command's JSON keys."""
        return {
            "images": self.images,
            "plates_truth": self.plates_truth,
            "plates_detected": self.plates_detected,
            "exact": self.exact,
            "accuracy": round(self.exact / self.plates_truth, 4) if self.plates_truth else None,
            "detected_rate": round(self.plates_detected / self.plates_truth, 4)
            if self.plates_truth
            else None,
            "false_reads": self.false_reads,
            "false_reads_per_image": round(self.false_reads / self.images, 4) if self.images else None,
            "ms_per_image": round(float(np.mean(self.ms)), 2) if self.ms else None,
            "skipped": len(self.skipped),
        }


def score_plates(
    images: Iterable[LabelledImage],
    detector: DetectionStage,
    reader: FormattedReader,
) -> PlateScore:
    """Detect and read every image end to end and score the reads (module docstring)."""
    score = PlateScore()
    for item in images:
        try:
            image = item.load()
        except OSError as exc:
            score.skipped.append(f"{item.name}: {exc}")
            continue
        started = time.perf_counter()
        found = read_image(image, detector, reader)
        score.ms.append(1000 * (time.perf_counter() - started))
        _score_image(score, item, found)
    return score


def _score_image(score: PlateScore, item: LabelledImage, found: Sequence[FoundPlate]) -> None:
    score.images += 1
    score.plates_truth += len(item.plates)
    reads = np.array([f.box for f in found], np.float32).reshape(-1, 4)
    matched = match_boxes([box for box, _ in item.plates], reads, MATCH_IOU)  # label -> read
    used = np.zeros(len(found), bool)
    used[list(matched.values())] = True
    for i, (_, text) in enumerate(item.plates):
        want = normalise(text)
        got = found[matched[i]].read.text if i in matched else None
        score.plates_detected += got is not None
        score.exact += got == want
        if got != want:
            score.misreads.append((item.name, want, got if got is not None else "(not found)"))
    ignored = np.zeros(len(found), bool)
    if len(found) and item.ignore:
        ignored = iou_matrix(reads, np.array(item.ignore, np.float32).reshape(-1, 4)).max(1) >= MATCH_IOU
    score.false_reads += int((~used & ~ignored).sum())


def openalpr_images(folder: Path) -> tuple[list[LabelledImage], list[str]]:
    """The labelled photos of an OpenALPR benchmark folder, and the photos skipped with why
    (a label naming a missing image, two images with one stem, an unreadable label)."""
    from formats.openalpr import read_openalpr_tolerant

    samples, problems = read_openalpr_tolerant(folder)
    by_image: dict[Path, list[tuple[Box, str]]] = {}
    for s in samples:
        if s.xyxy is not None:
            by_image.setdefault(s.image_path, []).append((s.xyxy, s.text))
    return [
        LabelledImage(p.name, _loader(p), tuple(plates)) for p, plates in sorted(by_image.items())
    ], problems


def synthetic_images(folder: Path, every: int = 10) -> Iterator[LabelledImage]:
    """Every ``every``-th frame of each camera of a ``roadwatch synth`` folder (``videos/`` and
    ``truth/``) with the plates the world's truth marks readable; the other plates in view are
    ignored regions.

    Raises:
        OSError: The folder lacks ``truth/`` or a camera's video (the message names it).
    """
    import cv2

    truths = sorted((folder / "truth").glob("*.json"))
    if not truths:
        raise OSError(
            f"{folder}: no truth/*.json here (make one: roadwatch synth --scenario SCENARIO --out DIR)"
        )
    for truth_file in truths:
        camera = truth_file.stem
        video = folder / "videos" / f"{camera}.mp4"
        if not video.is_file():
            raise OSError(f"{video}: the camera's video is missing")
        frames = json.loads(truth_file.read_text())["frames"]
        capture = cv2.VideoCapture(str(video))
        try:
            for index, truth in enumerate(frames):
                ok, image = capture.read()
                if not ok:
                    break
                if index % every:
                    continue
                plates, ignore = [], []
                for v in truth["vehicles"]:
                    if v["plate_xyxy"] is None:
                        continue
                    box = tuple(v["plate_xyxy"])
                    if v["plate_readable"] and v["plate_text"]:
                        plates.append((box, v["plate_text"]))
                    else:
                        ignore.append(box)
                yield LabelledImage(
                    f"{camera}#{index}", _given(np.asarray(image, np.uint8)), tuple(plates), tuple(ignore)
                )
        finally:
            capture.release()


def _given(image: npt.NDArray[np.uint8]) -> Callable[[], npt.NDArray[np.uint8]]:
    return lambda: image


def _loader(path: Path) -> Callable[[], npt.NDArray[np.uint8]]:
    return lambda: load_photo(path)


def load_photo(path: Path) -> npt.NDArray[np.uint8]:
    """A photo as 8-bit BGR, turned upright by its EXIF orientation as a phone shows it (grey,
    BGRA and 16-bit photos converted).

    Raises:
        OSError: The file is missing, no image OpenCV can decode, or larger than
            :data:`MAX_PHOTO_PIXELS` (a decompression bomb is refused before it is decoded);
            the message names the file.
    """
    import cv2
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise OSError(f"{path}: no such file")
    size = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below
            with Image.open(path) as header:  # reads the header only
                width, height = header.size
        if width * height > MAX_PHOTO_PIXELS:
            size = f"{width}x{height}"
    except Image.DecompressionBombError:  # PIL's own, larger limit
        size = "its size"
    except (UnidentifiedImageError, OSError, ValueError):
        pass  # PIL does not know every format OpenCV reads: let OpenCV decide
    if size:
        raise OSError(
            f"{path}: {size} is larger than {MAX_PHOTO_PIXELS // 1_000_000} megapixels; "
            "refused (scale it down first)"
        )
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None or image.size == 0:
        raise OSError(f"{path}: not an image OpenCV can read (corrupt or unsupported)")
    return np.ascontiguousarray(image, np.uint8)
