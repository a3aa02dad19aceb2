"""Which vector is the embedding: the BN-neck output or the (centred) pooled vector, measured.

    .venv/bin/python scripts/reid_features.py --checkpoint runs/reid/checkpoint.pt [--json]

Seed 004 allows either ("the pooled (or BN) vector is the feature"). For each network this
exports both choices of the checkpoint to ONNX (``reid.export.export_onnx``) and embeds the
validation crops (each crop queries all the others) and the held-out query/gallery split
with onnxruntime, as ``roadwatch eval reid`` does. It reports vehicle-only and plate-only mAP
/ Rank-1 per choice, and fusion for each pair of choices over a sweep of the plate prior
``reid.missing_plate_cosine``. The choice and the prior are made on ``validation``;
``held_out`` is for the record. It also reports, on validation, the median vehicle cosine of
one identity across cameras and of two identities, per choice and for the pooled vector
without centring (the gallery's thresholds assume unrelated vehicles score near 0).

``validation_in_training`` says whether the checkpoint learnt from the validation identities
(``reid.train.splits`` names ``val``): its validation figures are then training figures, not
a basis for a choice.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig
from formats import read_veri
from reid.data import load_items, to_input
from reid.embedder import Embedder
from reid.evaluate import embed_items
from reid.export import export_onnx
from reid.metrics import cosine_similarity, evaluate_retrieval, fused_similarity
from reid.train import load_checkpoint, net_from_checkpoint, two_line_aspect_from_meta

FEATURES = ("neck", "pooled")
PRIORS = (0.3, 0.4, 0.5, 0.6, 0.7)


def _cosine_medians(sim: np.ndarray, crops: dict[str, Any]) -> dict[str, float]:
    """Median cosine of one identity across cameras and of two identities (all against all)."""
    ids, cams = crops["ids"], crops["cams"]
    same = (ids[:, None] == ids[None, :]) & (cams[:, None] != cams[None, :])
    different = ids[:, None] != ids[None, :]
    return {
        "same_identity_median": round(float(np.median(sim[same])), 3),
        "different_identity_median": round(float(np.median(sim[different])), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/reid/checkpoint.pt"))
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reid = ReidConfig()
    payload = load_checkpoint(args.checkpoint)
    meta = payload["meta"]
    splits = read_veri(args.data)
    layout = two_line_aspect_from_meta(meta)  # what the plate network was trained on
    sets = {
        "validation": [load_items(splits["val"], reid.plate_input, layout)] * 2,
        "held_out": [
            load_items(splits["query"], reid.plate_input, layout),
            load_items(splits["test"], reid.plate_input, layout),
        ],
    }
    embedded: dict[tuple[str, str, str], dict[str, Any]] = {}  # (set, side, feature) -> embeddings
    with tempfile.TemporaryDirectory() as tmp:
        for feature in FEATURES:
            paths = {}
            for name in ("vehicle", "plate"):
                paths[name] = export_onnx(
                    net_from_checkpoint(payload, name),
                    tuple(meta[f"{name}_input"]),
                    Path(tmp) / f"{name}-{feature}.onnx",
                    feature,
                )
            embedder = Embedder.from_files(paths["vehicle"], paths["plate"], threads=2)
            for set_name, (query, gallery) in sets.items():
                embedded[(set_name, "query", feature)] = embed_items(embedder, query)
                embedded[(set_name, "gallery", feature)] = (
                    embedded[(set_name, "query", feature)]
                    if query is gallery
                    else embed_items(embedder, gallery)
                )

    def score(
        sim: np.ndarray, q: dict[str, Any], g: dict[str, Any], qm: Any = slice(None), gm: Any = slice(None)
    ):
        s = evaluate_retrieval(sim, q["ids"][qm], g["ids"][gm], q["cams"][qm], g["cams"][gm])
        return {"mAP": round(s.mAP, 4), "rank1": round(s.rank1, 4)}

    net = net_from_checkpoint(payload, "vehicle")
    crops = [it.vehicle for it in sets["validation"][0]]
    with torch.no_grad():
        uncentred = net(torch.from_numpy(to_input(crops, tuple(meta["vehicle_input"])))).pooled.numpy()

    # Checkpoints from before reid.train.splits trained on "train" alone.
    trained_on = meta.get("config", {}).get("splits", ["train"])
    report: dict[str, Any] = {"validation_in_training": "val" in trained_on}
    for set_name in sets:
        out: dict[str, Any] = {}
        for feature in FEATURES:
            q, g = embedded[(set_name, "query", feature)], embedded[(set_name, "gallery", feature)]
            qp, gp = q["has_plate"], g["has_plate"]
            vehicle = cosine_similarity(q["vehicle"], g["vehicle"])
            out[f"vehicle_{feature}"] = score(vehicle, q, g)
            out[f"plate_{feature}"] = score(cosine_similarity(q["plate"][qp], g["plate"][gp]), q, g, qp, gp)
            if set_name == "validation":
                out[f"vehicle_{feature}_cosine"] = _cosine_medians(vehicle, q)
        if set_name == "validation":
            out["vehicle_pooled_uncentred_cosine"] = _cosine_medians(
                cosine_similarity(uncentred, uncentred), embedded[(set_name, "query", "pooled")]
            )
        for vf in FEATURES:
            for pf in FEATURES:
                qv, gv = embedded[(set_name, "query", vf)], embedded[(set_name, "gallery", vf)]
                qpl, gpl = embedded[(set_name, "query", pf)], embedded[(set_name, "gallery", pf)]
                out[f"fusion_vehicle_{vf}_plate_{pf}"] = {
                    str(prior): score(
                        fused_similarity(
                            qv["vehicle"],
                            qpl["plate"],
                            qv["has_plate"],
                            gv["vehicle"],
                            gpl["plate"],
                            gv["has_plate"],
                            prior,
                        ),
                        qv,
                        gv,
                    )
                    for prior in PRIORS
                }
        report[set_name] = out
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
