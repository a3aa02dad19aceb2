"""Re-id training data: VeRi-style crops with their plate regions, seed-001 augmentation, P×K batches.

A sample pairs a vehicle crop with the plate region cut from it (rectified from the plate's
four corners), as seed 004 prescribes: both networks see the same identity. Vehicles whose
plate is missing or unreadable have no plate sample and train the vehicle network only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from formats import ReidSample, read_veri

Image = npt.NDArray[np.uint8]
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
# Plates are stored rectified at twice the network input so augmentation can crop and rotate.
PLATE_STORE_SCALE = 2


@dataclass(frozen=True, slots=True)
class ReidItem:
    """One training or evaluation sample.

    Attributes:
        vehicle: BGR vehicle crop.
        plate: BGR rectified plate, or None when the crop shows no usable plate.
        identity: Identity number from the file name.
        camera: Camera id (``c001``).
        label: 0-based class index among the split's identities.
        path: The crop file.
        plate_text: Text printed on the plate ('' when unknown or no plate).
    """

    vehicle: Image
    plate: Image | None
    identity: int
    camera: str
    label: int
    path: Path
    plate_text: str = ""


# A plate narrower than this (width / height of its corners) is taken to carry two rows of
# characters: motorcycle plates (EU 280×200 mm, US 180×100 mm, CN 220×140 mm) against
# single-line plates of 2:1 (US cars) and wider.
TWO_LINE_ASPECT = 1.9
# The upper row is read from the top 55 % of such a plate, the lower from the bottom 55 %:
# the rows need not meet at half height (a US plate's banner pushes them down).
TWO_LINE_SHARE = 0.55
# ONNX metadata key of a plate model: the aspect below which its plates were laid out as two
# rows side by side; absent in models older than the layout, which read plates as printed (0).
TWO_LINE_ASPECT_KEY = "roadwatch.two_line_aspect"


def plate_aspect(corners: npt.NDArray[np.float32]) -> float:
    """Width over height of a plate quadrilateral (TL, TR, BR, BL): mean of its top and bottom
    edges over the mean of its sides (0 for a degenerate quadrilateral)."""
    c = np.asarray(corners, np.float64)
    width = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    height = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    return float(width / height) if height > 0 else 0.0


def _warp(crop: Image, quad: npt.NDArray[np.float32], size: tuple[int, int]) -> Image:
    h, w = size
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return np.asarray(cv2.warpPerspective(crop, matrix, (w, h), flags=cv2.INTER_LINEAR), np.uint8)


def rectify_plate(
    crop: Image,
    corners: npt.NDArray[np.float32],
    size: tuple[int, int],
    two_line_aspect: float = TWO_LINE_ASPECT,
) -> Image:
    """Warp the quadrilateral ``corners`` (TL, TR, BR, BL in crop pixels) to ``size`` (H, W).

    A plate narrower than ``two_line_aspect`` (:func:`plate_aspect`; 0: never) is laid out as
    one row: its upper part fills the left half of the output and its lower part the right
    half (each the top or bottom :data:`TWO_LINE_SHARE` of the plate), so a double-line plate
    reaches the plate network as its characters in reading order, as a single-line plate does.
    """
    c = np.asarray(corners, np.float32)
    if not 0 < plate_aspect(c) < two_line_aspect:  # one row, or a degenerate quadrilateral
        return _warp(crop, c, size)
    h, w = size
    tl, tr, br, bl = c
    upper = np.array([tl, tr, tr + TWO_LINE_SHARE * (br - tr), tl + TWO_LINE_SHARE * (bl - tl)], np.float32)
    lower = np.array([bl + TWO_LINE_SHARE * (tl - bl), br + TWO_LINE_SHARE * (tr - br), br, bl], np.float32)
    left = w // 2
    return np.hstack([_warp(crop, upper, (h, left)), _warp(crop, lower, (h, w - left))])


def _plate_of(
    sample: ReidSample, crop: Image, plate_size: tuple[int, int], two_line_aspect: float
) -> Image | None:
    plate = sample.plate
    if plate is None:
        return None
    if plate.corners is not None:
        corners = plate.corners
    elif plate.xyxy is not None:
        x0, y0, x1, y1 = plate.xyxy
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    else:
        return None
    stored = (plate_size[0] * PLATE_STORE_SCALE, plate_size[1] * PLATE_STORE_SCALE)
    return rectify_plate(crop, corners, stored, two_line_aspect)


def load_items(
    samples: Sequence[ReidSample], plate_size: tuple[int, int], two_line_aspect: float = TWO_LINE_ASPECT
) -> list[ReidItem]:
    """Read crops and cut their plates (:func:`rectify_plate`); labels are 0-based in sorted
    identity order.

    Raises:
        FileNotFoundError: A crop cannot be read (the message names it).
    """
    labels = {identity: i for i, identity in enumerate(sorted({s.identity for s in samples}))}
    items = []
    for sample in samples:
        crop = cv2.imread(str(sample.image_path), cv2.IMREAD_COLOR)
        if crop is None or crop.size == 0:
            raise FileNotFoundError(f"{sample.image_path}: not a readable image")
        image = np.asarray(crop, np.uint8)
        plate = _plate_of(sample, image, plate_size, two_line_aspect)
        text = sample.plate.text if plate is not None and sample.plate is not None else ""
        label = labels[sample.identity]
        items.append(ReidItem(image, plate, sample.identity, sample.camera, label, sample.image_path, text))
    return items


def load_split(root: Path, split: str, plate_size: tuple[int, int]) -> list[ReidItem]:
    """Items of one split (``train``, ``val``, ``query`` or ``test``) of a VeRi-style folder."""
    return load_items(read_veri(root)[split], plate_size)


def to_input(images: Sequence[Image], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """BGR crops → ``(N, 3, H, W)`` float32 network input (RGB, ImageNet mean/std).

    Resizing uses area averaging when shrinking and bilinear when enlarging, as the
    inference :class:`~reid.embedder.OnnxEncoder` does.
    """
    h, w = size
    out = np.empty((len(images), 3, h, w), np.float32)
    for i, image in enumerate(images):
        shrink = image.shape[0] > h or image.shape[1] > w
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        rgb = resized[..., ::-1].astype(np.float32) / 255.0
        out[i] = ((rgb - MEAN) / STD).transpose(2, 0, 1)
    return out


@dataclass(frozen=True, slots=True)
class AugmentSpec:
    """Seed 001's augmentation plus random erasing (probabilities and ranges)."""

    area: tuple[float, float] = (0.64, 1.0)
    aspect: tuple[float, float] = (0.75, 1.333)
    flip_p: float = 0.5
    rotate_p: float = 0.3
    rotate_deg: float = 10.0
    jitter_p: float = 0.5
    jitter: float = 0.25
    grey_p: float = 0.0
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)


def augment(image: Image, size: tuple[int, int], spec: AugmentSpec, rng: np.random.Generator) -> Image:
    """Random-area/aspect crop resized to ``size`` (H, W), then flip (p1), rotation (p2),
    brightness/contrast/saturation jitter (p3), grey conversion (``grey_p``: what an infrared
    camera shows; not drawn when 0) and random erasing."""
    h, w = image.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(*spec.area)
        aspect = math.exp(rng.uniform(math.log(spec.aspect[0]), math.log(spec.aspect[1])))
        ch, cw = round(math.sqrt(area / aspect)), round(math.sqrt(area * aspect))
        if 0 < ch <= h and 0 < cw <= w:
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            image = image[y : y + ch, x : x + cw]
            break
    out = np.asarray(cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA), np.uint8)
    if rng.random() < spec.flip_p:
        out = out[:, ::-1]
    if rng.random() < spec.rotate_p:
        matrix = cv2.getRotationMatrix2D(
            (size[1] / 2, size[0] / 2), rng.uniform(-spec.rotate_deg, spec.rotate_deg), 1.0
        )
        out = np.asarray(
            cv2.warpAffine(out, matrix, (size[1], size[0]), borderMode=cv2.BORDER_REFLECT), np.uint8
        )
    if rng.random() < spec.jitter_p:
        out = _jitter(out, spec.jitter, rng)
    if spec.grey_p > 0 and rng.random() < spec.grey_p:
        out = np.repeat(cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_BGR2GRAY)[..., None], 3, axis=2)
    if rng.random() < spec.erase_p:
        out = _erase(out, spec.erase_area, rng)
    return np.ascontiguousarray(out)


def _jitter(image: Image, amount: float, rng: np.random.Generator) -> Image:
    f = image.astype(np.float32)
    f *= 1 + rng.uniform(-amount, amount)  # brightness
    mean = f.mean()
    f = (f - mean) * (1 + rng.uniform(-amount, amount)) + mean  # contrast
    grey = f.mean(axis=2, keepdims=True)
    f = (f - grey) * (1 + rng.uniform(-amount, amount)) + grey  # saturation
    return np.asarray(np.clip(f, 0, 255), np.uint8)


def _erase(image: Image, area: tuple[float, float], rng: np.random.Generator) -> Image:
    h, w = image.shape[:2]
    out = image.copy()
    for _ in range(10):
        target = h * w * rng.uniform(*area)
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
        eh, ew = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < eh < h and 0 < ew < w:
            y, x = int(rng.integers(0, h - eh)), int(rng.integers(0, w - ew))
            out[y : y + eh, x : x + ew] = rng.integers(0, 256, (eh, ew, 3), dtype=np.uint8)
            break
    return out


def colour_signature(image: Image) -> npt.NDArray[np.float32]:
    """Unit-length colour signature of a BGR crop: square roots of an HSV histogram of its middle.

    Hue (8 bins, centred on red, orange, ... so that red's wrap-around at 180 stays in one bin)
    is counted over saturated pixels only, so a grey (infrared) crop of a red car adds no hue;
    saturation and value (4 bins each) over every pixel. The middle 60 % of the crop is the
    vehicle rather than the road around it. Square roots make the cosine of two signatures the
    Bhattacharyya coefficient of their histograms.
    """
    h, w = image.shape[:2]
    middle = image[
        int(h * 0.2) : max(int(h * 0.8), int(h * 0.2) + 1), int(w * 0.2) : max(int(w * 0.8), int(w * 0.2) + 1)
    ]
    hsv = cv2.cvtColor(np.ascontiguousarray(middle), cv2.COLOR_BGR2HSV).reshape(-1, 3)
    saturated = hsv[:, 1] >= 64
    parts = (
        np.bincount((hsv[saturated, 0].astype(np.int64) * 8 + 90) // 180 % 8, minlength=8),  # red: bin 0
        np.bincount(hsv[:, 1].astype(np.int64) // 64, minlength=4),
        np.bincount(hsv[:, 2].astype(np.int64) // 64, minlength=4),
    )
    hist = np.concatenate([part / max(len(hsv), 1) for part in parts]).astype(np.float32)
    root = np.sqrt(hist)
    return (root / max(float(np.linalg.norm(root)), 1e-12)).astype(np.float32)


def lookalike_neighbours(items: Sequence[ReidItem], count: int) -> dict[int, list[int]]:
    """For each label, the ``count`` other labels whose crops look most alike in colour.

    An identity's signature is the mean :func:`colour_signature` of its crops (at most 16 of
    them); neighbours are ranked by the cosine of the signatures, most alike first. Labels
    come from the data alone: no type or colour annotation is needed, so a real VeRi folder
    works as the synthetic one does.
    """
    crops: dict[int, list[Image]] = defaultdict(list)
    for item in items:
        if len(crops[item.label]) < 16:
            crops[item.label].append(item.vehicle)
    labels = sorted(crops)
    if not labels or count < 1:
        return {label: [] for label in labels}
    signatures = np.stack([np.mean([colour_signature(c) for c in crops[label]], axis=0) for label in labels])
    signatures /= np.maximum(np.linalg.norm(signatures, axis=1, keepdims=True), 1e-12)
    sim = signatures @ signatures.T  # (L, L)
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, : min(count, len(labels) - 1)]
    return {label: [labels[int(j)] for j in order[i]] for i, label in enumerate(labels)}


class PKSampler:
    """Batches of P identities × K samples each (identities with fewer than K repeat samples).

    With ``neighbours`` and a ``lookalike_share`` above 0, part of the P identities are drawn as
    look-alikes of others in the batch: identities are drawn at random, and after each one, while
    the share lasts, one of its neighbours not yet in the batch. Batch-hard triplet mining then
    meets vehicles of one colour in one batch, the confusions a uniform draw rarely puts side
    by side.

    With ``cameras``, the K samples of an identity come from K different cameras where it has
    that many (cameras drawn in random order, repeated in that order when it has fewer), one
    crop drawn from each: every positive pair of batch-hard mining is then a cross-camera pair,
    as every match in retrieval must be, instead of two crops of one pass.

    Args:
        labels: Label of every item.
        p: Identities per batch.
        k: Samples per identity.
        neighbours: Look-alike labels of each label (:func:`lookalike_neighbours`).
        lookalike_share: Share of the P identities drawn as look-alikes, in [0, 0.5].
        cameras: Camera of every item, or None to draw an identity's samples uniformly.
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        neighbours: dict[int, list[int]] | None = None,
        lookalike_share: float = 0.0,
        cameras: Sequence[str] | None = None,
    ) -> None:
        if p < 2 or k < 2:
            raise ValueError(f"P and K must be >= 2 for batch-hard mining, got P={p} K={k}")
        if not 0.0 <= lookalike_share <= 0.5:
            raise ValueError(f"lookalike_share must be in [0, 0.5], got {lookalike_share}")
        if cameras is not None and len(cameras) != len(labels):
            raise ValueError(f"{len(cameras)} cameras given for {len(labels)} labels")
        self._by_label: dict[int, list[int]] = defaultdict(list)
        by_camera: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for index, label in enumerate(labels):
            self._by_label[label].append(index)
            if cameras is not None:
                by_camera[label][cameras[index]].append(index)
        self._by_camera = {label: [pool for _, pool in sorted(c.items())] for label, c in by_camera.items()}
        if len(self._by_label) < p:
            raise ValueError(f"need at least P={p} identities, the data has {len(self._by_label)}")
        self._labels = sorted(self._by_label)
        self._p, self._k = p, k
        self._lookalikes = round(p * lookalike_share) if neighbours else 0
        self._neighbours = neighbours or {}

    def batch(self, rng: np.random.Generator) -> list[int]:
        """Item indices of one batch (P·K of them), drawn from ``rng``."""
        if self._lookalikes:
            labels = self._draw_with_lookalikes(rng)
        else:
            labels = [self._labels[int(c)] for c in rng.choice(len(self._labels), self._p, replace=False)]
        out: list[int] = []
        for label in labels:
            if self._by_camera:
                out.extend(self._across_cameras(label, rng))
                continue
            pool = self._by_label[label]
            out.extend(int(i) for i in rng.choice(pool, self._k, replace=len(pool) < self._k))
        return out

    def _across_cameras(self, label: int, rng: np.random.Generator) -> list[int]:
        pools = self._by_camera[label]
        order = rng.permutation(len(pools))
        return [int(rng.choice(pools[int(order[j % len(pools)])])) for j in range(self._k)]

    def _draw_with_lookalikes(self, rng: np.random.Generator) -> list[int]:
        chosen: list[int] = []
        taken: set[int] = set()
        left = self._lookalikes
        for c in rng.permutation(len(self._labels)):
            if len(chosen) == self._p:
                break
            label = self._labels[int(c)]
            if label in taken:
                continue
            chosen.append(label)
            taken.add(label)
            if left and len(chosen) < self._p:
                free = [n for n in self._neighbours.get(label, ()) if n in self._by_label and n not in taken]
                if free:
                    pick = free[int(rng.integers(len(free)))]
                    chosen.append(pick)
                    taken.add(pick)
                    left -= 1
        return chosen
