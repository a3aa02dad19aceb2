"""Held-out evaluation: query vs gallery retrieval with vehicle, plate and fused features.

Protocol (VeRi-776): queries are ``image_query``, the gallery is ``image_test``; for each
query, gallery crops of the same identity from the same camera are ignored, so a match must
come from another camera. ``vehicle`` uses every crop; ``plate`` only crops that show a
plate, on both sides; ``fusion`` uses every crop and compares two crops with plates by their
fused 256-d feature (a plated query counts a plateless item's plate half as
``reid.missing_plate_cosine``; a plateless query compares vehicle features only:
``reid.metrics.fused_similarity``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from config.schema import ReidConfig
from formats import read_veri
from reid.data import ReidItem, load_items
from reid.embedder import Embedder
from reid.metrics import RetrievalScores, cosine_similarity, evaluate_retrieval, fused_similarity


def embed_items(embedder: Embedder, items: list[ReidItem]) -> dict[str, Any]:
    """Vehicle and plate embeddings of ``items`` (plate rows of plateless items are zeros), with
    ``has_plate``, ``ids`` and ``cams`` arrays, as the retrieval metrics take them."""
    vehicles = embedder.embed_vehicles([it.vehicle for it in items]).vectors
    has_plate = np.array([it.plate is not None for it in items], bool)
    plates = np.zeros_like(vehicles)
    crops = [it.plate for it in items if it.plate is not None]
    if crops:
        plates[has_plate] = embedder.embed_plates(crops).vectors
    return {
        "vehicle": vehicles,
        "plate": plates,
        "has_plate": has_plate,
        "ids": np.array([it.identity for it in items]),
        "cams": np.array([it.camera for it in items]),
    }


CMC_RANKS = 20  # ranks of each CMC curve in the report


def evaluate_reid(data: Path, vehicle_model: Path, plate_model: Path, *, reid: ReidConfig) -> dict[str, Any]:
    """mAP and CMC of the three feature kinds on the query/gallery splits of ``data``.

    Returns:
        ``{"vehicle": {...}, "plate": {...}, "fusion": {...}, "queries": Q, "gallery": G}``
        where each kind holds ``mAP``, ``rank1``, ``rank5``, ``rank10`` and its own counts.
    """
    splits = read_veri(data)
    embedder = Embedder.from_files(
        vehicle_model, plate_model, provider=reid.provider, threads=reid.threads, batch_size=reid.batch_size
    )
    query_items = load_items(splits["query"], reid.plate_input, embedder.two_line_aspect)
    gallery_items = load_items(splits["test"], reid.plate_input, embedder.two_line_aspect)
    q = embed_items(embedder, query_items)
    g = embed_items(embedder, gallery_items)
    qp, gp = q["has_plate"], g["has_plate"]
    scores: dict[str, RetrievalScores] = {
        "vehicle": evaluate_retrieval(
            cosine_similarity(q["vehicle"], g["vehicle"]), q["ids"], g["ids"], q["cams"], g["cams"]
        ),
        "plate": evaluate_retrieval(
            cosine_similarity(q["plate"][qp], g["plate"][gp]),
            q["ids"][qp],
            g["ids"][gp],
            q["cams"][qp],
            g["cams"][gp],
        ),
        "fusion": evaluate_retrieval(
            fused_similarity(
                q["vehicle"], q["plate"], qp, g["vehicle"], g["plate"], gp, reid.missing_plate_cosine
            ),
            q["ids"],
            g["ids"],
            q["cams"],
            g["cams"],
        ),
    }
    report: dict[str, Any] = {kind: s.to_dict() for kind, s in scores.items()}
    report["cmc"] = {kind: [round(float(v), 4) for v in s.cmc[:CMC_RANKS]] for kind, s in scores.items()}
    report["queries"] = len(query_items)
    report["gallery"] = len(gallery_items)
    report["queries_with_plate"] = int(q["has_plate"].sum())
    return report
