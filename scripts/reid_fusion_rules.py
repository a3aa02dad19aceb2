"""Fused ranking rules, measured: the plate prior for plateless items, and the older rules.

    .venv/bin/python scripts/reid_fusion_rules.py --json

Embeds the validation crops and the held-out query/gallery split with the shipped models (or
``--models DIR``) and scores fusion (``reid.metrics.fused_similarity``) for a sweep of
``missing_plate``, the plate cosine a plated query assumes for an item without a plate:

- ``validation``: every validation crop queries all the others (VeRi junk rule: same identity
  and camera ignored). This is where ``reid.missing_plate_cosine`` is chosen; the report also
  gives the midpoint between the median cosine of equal and of different plates there. For
  models trained on the validation identities too (``reid.train.splits`` names ``val``) these
  are training figures.
- ``held_out``: the evaluation split of ``roadwatch eval reid``, for the record.
- ``vehicle_fallback``: a plated query compares a plateless item by the vehicle cosine alone
  (the first version's rule), on the held-out split.
- ``plate_oracle``: the plate cosine replaced by 1 for equal plate text, else 0, which bounds
  what a perfect plate reader could add to these vehicle features.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig
from formats import read_veri
from reid.data import ReidItem, load_items
from reid.embedder import Embedder
from reid.evaluate import embed_items
from reid.metrics import cosine_similarity, evaluate_retrieval, fused_similarity

MODELS = Path(__file__).resolve().parent.parent / "reid" / "models"
PRIORS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--models", type=Path, default=MODELS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reid = ReidConfig()
    splits = read_veri(args.data)
    embedder = Embedder.from_files(args.models / "vehicle.onnx", args.models / "plate.onnx", threads=2)

    def embed(items: list[ReidItem]) -> dict[str, Any]:
        return {**embed_items(embedder, items), "items": items}

    def score(sim: np.ndarray, q: dict[str, Any], g: dict[str, Any]) -> dict[str, float]:
        s = evaluate_retrieval(sim, q["ids"], g["ids"], q["cams"], g["cams"])
        return {"mAP": round(s.mAP, 4), "rank1": round(s.rank1, 4)}

    def fused(q: dict[str, Any], g: dict[str, Any], prior: float, plate: str = "plate") -> np.ndarray:
        return fused_similarity(
            q["vehicle"], q[plate], q["has_plate"], g["vehicle"], g[plate], g["has_plate"], prior
        )

    val = embed(load_items(splits["val"], reid.plate_input, embedder.two_line_aspect))
    query = embed(load_items(splits["query"], reid.plate_input, embedder.two_line_aspect))
    gallery = embed(load_items(splits["test"], reid.plate_input, embedder.two_line_aspect))
    report: dict[str, Any] = {"validation": {}, "held_out": {}}
    for prior in PRIORS:
        report["validation"][str(prior)] = score(fused(val, val, prior), val, val)
        report["held_out"][str(prior)] = score(fused(query, gallery, prior), query, gallery)
    both = val["has_plate"][:, None] & val["has_plate"][None, :]
    same_id = val["ids"][:, None] == val["ids"][None, :]
    other_cam = val["cams"][:, None] != val["cams"][None, :]
    plate_cos = cosine_similarity(val["plate"], val["plate"])
    equal, different = np.median(plate_cos[both & same_id & other_cam]), np.median(plate_cos[both & ~same_id])
    report["validation_plate_cosine"] = {
        "equal_median": round(float(equal), 4),
        "different_median": round(float(different), 4),
        "midpoint": round(float(equal + different) / 2, 4),
        "best_prior": max(PRIORS, key=lambda p: report["validation"][str(p)]["mAP"]),
    }

    vehicle = cosine_similarity(query["vehicle"], gallery["vehicle"])
    both = query["has_plate"][:, None] & gallery["has_plate"][None, :]
    plate = cosine_similarity(query["plate"], gallery["plate"])
    report["vehicle_fallback"] = score(np.where(both, 0.5 * vehicle + 0.5 * plate, vehicle), query, gallery)
    # A perfect reader's plate feature: one-hot plate text, so equal texts have cosine 1, others 0.
    texts = {t: i for i, t in enumerate(sorted({it.plate_text for it in query["items"] + gallery["items"]}))}
    for side in (query, gallery):
        side["oracle"] = np.zeros((len(side["items"]), len(texts)))
        for row, it in enumerate(side["items"]):
            if it.plate is not None:
                side["oracle"][row, texts[it.plate_text]] = 1.0
    report["plate_oracle"] = {
        str(prior): score(fused(query, gallery, prior, "oracle"), query, gallery)
        for prior in (0.0, reid.missing_plate_cosine)
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
