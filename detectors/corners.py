"""Plate corners from a detected plate box, so the crop handed to re-id and OCR is rectified.

The detector gives an axis-aligned box; a plate seen from an angle is a rotated, slightly
sheared quadrilateral inside it. Within the box (plus a margin) the plate is the largest
region that contrasts with its surroundings: edges (Canny on the grey crop, closed so the
characters merge with the plate's border) form blobs, and the blob whose rotated rectangle
has a plate's aspect ratio (1.5–7) and covers most of the box is the plate. Its rotated
rectangle gives the four corners (top-left, top-right, bottom-right, bottom-left). When no
blob qualifies the box's own corners are returned, so a caller always gets a usable quad.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.data import as_bgr
from reid.data import TWO_LINE_ASPECT, rectify_plate

F32 = npt.NDArray[np.float32]


def order_corners(points: F32) -> F32:
    """Four points as top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(points, np.float32).reshape(4, 2)
    by_y = pts[np.argsort(pts[:, 1], kind="stable")]
    top = by_y[:2][np.argsort(by_y[:2, 0], kind="stable")]
    bottom = by_y[2:][np.argsort(by_y[2:, 0], kind="stable")]
    return np.array([top[0], top[1], bottom[1], bottom[0]], np.float32)


def plate_corners(frame: npt.NDArray[np.generic], box: npt.ArrayLike, margin: float = 0.15) -> F32:
    """Corners ``(4, 2)`` of the plate inside ``box`` (``x1, y1, x2, y2`` in frame pixels)."""
    image = as_bgr(np.asarray(frame))
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, np.float64).reshape(4))
    fallback = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
    h, w = image.shape[:2]
    bw, bh = x2 - x1, y2 - y1
    if bw < 8 or bh < 4:
        return fallback
    cx0 = int(max(0, np.floor(x1 - margin * bw)))
    cy0 = int(max(0, np.floor(y1 - margin * bh)))
    cx1 = int(min(w, np.ceil(x2 + margin * bw)))
    cy1 = int(min(h, np.ceil(y2 + margin * bh)))
    crop = image[cy0:cy1, cx0:cx1]
    if crop.size == 0:
        return fallback
    scale = max(1.0, 64.0 / max(1, crop.shape[0]))  # small plates: work at a readable size
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if scale > 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    edges = cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), 40, 120)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(grey.shape[1] / 12)), 3))
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, kernel, iterations=2)
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    box_area = bw * bh * scale * scale
    best: tuple[float, F32] | None = None
    for contour in contours:
        (rcx, rcy), (rw, rh), angle = cv2.minAreaRect(contour)
        long, short = max(rw, rh), min(rw, rh)
        if short < 2 or not 1.5 <= long / short <= 7.0:
            continue
        area = rw * rh
        if not 0.4 * box_area <= area <= 1.6 * box_area:
            continue
        if best is None or area > best[0]:
            pts = cv2.boxPoints(((rcx, rcy), (rw, rh), angle)).astype(np.float32)
            best = (area, pts)
    if best is None:
        return fallback
    points = best[1] / scale + np.array([cx0, cy0], np.float32)
    return order_corners(points)


def rectified_plate(
    frame: npt.NDArray[np.generic],
    box: npt.ArrayLike,
    size: tuple[int, int],
    two_line_aspect: float = TWO_LINE_ASPECT,
) -> npt.NDArray[np.uint8]:
    """The plate inside ``box`` warped upright to ``size`` (H, W) from its recovered corners; a
    plate narrower than ``two_line_aspect`` gets its rows side by side, as the plate network
    was trained on them (:func:`reid.data.rectify_plate`; pass the plate model's
    :attr:`reid.embedder.Embedder.two_line_aspect`)."""
    image = as_bgr(np.asarray(frame))
    return rectify_plate(image, plate_corners(image, box), size, two_line_aspect)
