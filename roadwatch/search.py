"""Search by image (method 5, seed 002): intent gate, every vehicle detected, each one searched.

App layer: it composes the gate, the detector, re-id and the gallery (libraries never compose
each other).

1. The intent gate looks at the whole image first: not a vehicle → the answer says so and
   nothing is searched.
2. The detector finds every vehicle (and plates inside them). A picture the gate calls a
   vehicle but in which the detector finds none is searched as one vehicle (a cropped photo).
3. Each vehicle is embedded (vehicle crop, and the rectified plate where one was found) and
   searched in the library that decides for it (fusion with a plate, else vehicle; see
   ``gallery.gallery``): the ``candidates`` nearest identities become method 5's candidate set.
4. ``gallery.search.postprocess``: distance threshold, ``rank = 2 − distance``, rank filter,
   category entropy filter, category-aware ordering. The category of an identity is its
   recorded vehicle type (``type``) or colour (``colour``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from detectors.base import Detections
from detectors.corners import rectified_plate
from detectors.gate import GateResult, IntentGate
from detectors.stage import PLATE, DetectionStage
from gallery.gallery import Gallery
from gallery.search import (
    DEFAULT_MAX_ENTROPY,
    DEFAULT_MIN_RANK,
    Candidate,
    SearchResult,
    parse_seen,
    postprocess,
)
from plates.reader import FormattedReader
from reid.embedder import Embedder
from reid.fusion import fuse

Category = Literal["type", "colour"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One identity found for a vehicle of the image."""

    identity: int
    score: float  # cosine with the identity's best exemplar
    rank: float  # 2 − L2 distance between unit features
    category: str
    category_score: float
    last_seen: list[tuple[str, float]]  # (camera, time), newest first
    plate: str


@dataclass(frozen=True, slots=True)
class VehicleHits:
    """The search of one vehicle in the image."""

    box: tuple[float, float, float, float]
    library: str  # fusion (a plate was found) or vehicle
    gate: GateResult
    hits: list[Hit] = field(default_factory=list)
    plate: str = ""  # the plate's text, read by the pipeline's reader ('' when unread)


@dataclass(frozen=True, slots=True)
class ImageSearch:
    """The answer for one image: ``is_vehicle`` False means the gate refused it (nothing searched)."""

    is_vehicle: bool
    gate: GateResult
    vehicles: list[VehicleHits]


def search_image(
    image: npt.NDArray[np.generic],
    *,
    gate: IntentGate,
    detector: DetectionStage | None,
    embedder: Embedder,
    gallery: Gallery,
    top: int = 10,
    candidates: int = 50,
    max_distance: float = 2.0,
    min_rank: float = DEFAULT_MIN_RANK,
    max_entropy: float = DEFAULT_MAX_ENTROPY,
    category: Category = "type",
    plate_size: tuple[int, int] = (32, 128),
    reader: FormattedReader | None = None,
) -> ImageSearch:
    """Search the gallery for every vehicle of ``image`` (BGR; grey and BGRA are converted).

    Raises:
        ValueError: The image is empty or not an image.
    """
    frame = np.asarray(image)
    if frame.size == 0 or frame.ndim not in (2, 3):
        raise ValueError(f"not an image: array of shape {frame.shape}")
    whole = gate.classify([frame])[0]
    if not whole.is_vehicle:
        return ImageSearch(False, whole, [])
    found = detector.detect_image(frame) if detector is not None else Detections.empty()
    h, w = frame.shape[:2]
    vehicles = [i for i in range(len(found)) if found.class_id[i] != PLATE]
    boxes = [tuple(float(v) for v in found.xyxy[i]) for i in vehicles] or [(0.0, 0.0, float(w), float(h))]
    plates: list[npt.NDArray[np.uint8] | None] = []
    crops = []
    for n, box in enumerate(boxes):
        x1, y1, x2, y2 = (round(v) for v in box)
        crops.append(frame[max(0, y1) : max(y1 + 1, y2), max(0, x1) : max(x1 + 1, x2)])
        parent = vehicles[n] if vehicles else -1
        plate_rows = [
            j for j in range(len(found)) if found.class_id[j] == PLATE and found.parent[j] == parent
        ]
        if plate_rows and parent >= 0:
            best = max(plate_rows, key=lambda j: float(found.confidence[j]))
            plates.append(rectified_plate(frame, found.xyxy[best], plate_size, embedder.two_line_aspect))
        else:
            plates.append(None)
    gates = gate.classify(crops)
    found_plates = [p for p in plates if p is not None]
    vehicle_vectors = embedder.embed_vehicles(crops).vectors
    plate_vectors = embedder.embed_plates(found_plates).vectors
    reads = reader.read(found_plates) if reader is not None and found_plates else []
    texts = iter(r.text if r.readable else "" for r in reads)
    gallery.sync()
    out = []
    next_plate = 0
    for n, box in enumerate(boxes):
        text = ""
        if plates[n] is not None:
            query = fuse(vehicle_vectors[n], plate_vectors[next_plate])[0]  # the one fusion rule
            next_plate += 1
            library = "fusion"
            text = next(texts, "")
        else:
            library, query = "vehicle", vehicle_vectors[n]
        near = gallery.search(library, query, candidates)
        hits = _hits(gallery, near, top, max_distance, min_rank, max_entropy, category)
        out.append(VehicleHits(box, library, gates[n], hits, text))  # type: ignore[arg-type]
    return ImageSearch(True, whole, out)


def _hits(
    gallery: Gallery,
    near: Sequence[tuple[int, float]],
    top: int,
    max_distance: float,
    min_rank: float,
    max_entropy: float,
    category: Category,
) -> list[Hit]:
    records = gallery.store.records([identity for identity, _ in near])
    cands = [
        Candidate(
            str(identity), math.sqrt(max(0.0, 2.0 - 2.0 * min(1.0, score))), record.get(category, "") or "?"
        )
        for (identity, score), record in zip(near, records, strict=True)
    ]
    kept: list[SearchResult] = postprocess(
        cands, max_distance=max_distance, min_rank=min_rank, max_entropy=max_entropy
    )[:top]
    by_id = {str(identity): (score, record) for (identity, score), record in zip(near, records, strict=True)}
    hits = []
    for result in kept:
        score, record = by_id[result.identity]
        hits.append(
            Hit(
                int(result.identity),
                score,
                result.rank,
                result.category,
                result.category_score,
                parse_seen(record.get("seen", "")),
                record.get("plate", ""),
            )
        )
    return hits


def search_summary(found: ImageSearch) -> dict[str, Any]:
    """An :class:`ImageSearch` as JSON (the keys of ``roadwatch search --json`` and of the API's
    search, without ``seconds``)."""
    return {
        "is_vehicle": found.is_vehicle,
        "vehicle_probability": round(found.gate.vehicle_probability, 4),
        "vehicles": [
            {
                "box": [round(v, 1) for v in vehicle.box],
                "library": vehicle.library,
                "plate": vehicle.plate,
                "type": vehicle.gate.type,
                "colour": vehicle.gate.colour,
                "results": [
                    {
                        "identity": hit.identity,
                        "score": round(hit.score, 4),
                        "rank": round(hit.rank, 4),
                        "category": hit.category,
                        "plate": hit.plate,
                        "last_seen": [{"camera": c, "time": t} for c, t in hit.last_seen],
                    }
                    for hit in vehicle.hits
                ],
            }
            for vehicle in found.vehicles
        ],
    }
