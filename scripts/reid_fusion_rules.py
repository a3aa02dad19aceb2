"""Fused ranking: the one-scale rule roadwatch uses vs comparing plateless items by vehicle only.

    .venv/bin/python scripts/reid_fusion_rules.py --json

Embeds the held-out query/gallery split with the shipped models (or ``--models DIR``) and
scores fusion twice: ``one_scale`` (``reid.metrics.fused_similarity``: a plated query counts a
plateless item's plate half as 0) and ``vehicle_fallback`` (a plated query compares a plateless
item by the vehicle cosine alone, the rule of the first version). Also ``plate_oracle``:
the same two rules with the plate cosine replaced by 1 for equal plate text, else 0, which
bounds what a perfect plate reader could add to these vehicle features.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig
from formats import read_veri
from reid.data import load_items
from reid.embedder import Embedder
from reid.metrics import cosine_similarity, evaluate_retrieval

MODELS = Path(__file__).resolve().parent.parent / "reid" / "models"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--models", type=Path, default=MODELS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reid = ReidConfig()
    splits = read_veri(args.data)
    query = load_items(splits["query"], reid.plate_input)
    gallery = load_items(splits["test"], reid.plate_input)
    embedder = Embedder.from_files(args.models / "vehicle.onnx", args.models / "plate.onnx", threads=2)

    def embed(items: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
        vehicles = embedder.embed_vehicles([it.vehicle for it in items]).vectors
        has = np.array([it.plate is not None for it in items])
        plates = np.zeros_like(vehicles)
        plates[has] = embedder.embed_plates([it.plate for it in items if it.plate is not None]).vectors
        return vehicles, plates, has

    qv, qp, qh = embed(query)
    gv, gp, gh = embed(gallery)
    vehicle = cosine_similarity(qv, gv)
    both = qh[:, None] & gh[None, :]
    texts = sorted({it.plate_text for it in query + gallery})
    oracle_q = np.array([texts.index(it.plate_text) if it.plate is not None else -1 for it in query])
    oracle_g = np.array([texts.index(it.plate_text) if it.plate is not None else -2 for it in gallery])
    plate_sims = {
        "learnt": cosine_similarity(qp, gp),
        "plate_oracle": (oracle_q[:, None] == oracle_g[None, :]) * 1.0,
    }
    ids = (np.array([it.identity for it in query]), np.array([it.identity for it in gallery]))
    cams = (np.array([it.camera for it in query]), np.array([it.camera for it in gallery]))
    report = {}
    for name, plate in plate_sims.items():
        one_scale = np.where(qh[:, None], 0.5 * vehicle + np.where(both, 0.5 * plate, 0.0), vehicle)
        fallback = np.where(both, 0.5 * vehicle + 0.5 * plate, vehicle)
        for rule, sim in (("one_scale", one_scale), ("vehicle_fallback", fallback)):
            scores = evaluate_retrieval(sim, ids[0], ids[1], cams[0], cams[1])
            report[f"{name}/{rule}"] = {"mAP": scores.mAP, "rank1": scores.rank1}
    print(json.dumps(report) if args.json else report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
