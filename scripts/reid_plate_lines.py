"""Plate-only retrieval for single- and double-line plates apart, on the held-out split.

    .venv/bin/python scripts/reid_plate_lines.py [--models reid/models] [--data data/reid-fleet/reid] [--json]

Embeds the held-out plate crops (query and gallery, as ``roadwatch eval reid`` does) with the
plate model of ``--models`` and reports, for the queries of each kind, plate-only mAP / Rank-1
against every plated gallery crop, and the median cosine of a query and a gallery crop of two
identities whose plates are both of that kind (what a different plate of the same kind
scores). Which plates are double-line comes from the synthetic world's truth, ``world.json``
beside the VeRi folder: motorcycles' plates and the rear plates of large CN vehicles.
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
from reid.data import load_items
from reid.embedder import Embedder
from reid.metrics import cosine_similarity, evaluate_retrieval


def by_lines(
    world: Path, sim: np.ndarray, qi: np.ndarray, gi: np.ndarray, qc: np.ndarray, gc: np.ndarray
) -> dict[str, Any]:
    """``single_line`` and ``double_line`` scores of a plate similarity matrix (query identities
    ``qi`` and cameras ``qc`` by rows, gallery ``gi``, ``gc`` by columns); ``{}`` without ``world``."""
    if not world.is_file():
        return {}
    double = {v["id"]: bool(v["plate_double_line"]) for v in json.loads(world.read_text())["fleet"]}
    q_double = np.array([double[int(i)] for i in qi])
    g_double = np.array([double[int(i)] for i in gi])
    out: dict[str, Any] = {}
    for name, kind in (("single_line", False), ("double_line", True)):
        rows = q_double == kind
        scores = evaluate_retrieval(sim[rows], qi[rows], gi, qc[rows], gc).to_dict()
        pairs = (q_double[:, None] == kind) & (g_double[None, :] == kind) & (qi[:, None] != gi[None, :])
        out[name] = {
            "mAP": scores["mAP"],
            "rank1": scores["rank1"],
            "queries": scores["queries"],
            "different_plate_cosine_median": round(float(np.median(sim[pairs])), 3),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("reid/models"))
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (args.data.parent / "world.json").is_file():
        print(f"error: {args.data.parent / 'world.json'} not found: this needs the synthetic world's truth")
        return 2
    reid = ReidConfig()
    embedder = Embedder.from_files(args.models / "vehicle.onnx", args.models / "plate.onnx", threads=2)
    splits = read_veri(args.data)
    side = {}
    for split in ("query", "test"):
        items = [it for it in load_items(splits[split], reid.plate_input) if it.plate is not None]
        vectors = embedder.embed_plates([it.plate for it in items]).vectors  # type: ignore[misc]
        identities, cameras = np.array([it.identity for it in items]), np.array([it.camera for it in items])
        side[split] = (vectors, identities, cameras)
    (qv, qi, qc), (gv, gi, gc) = side["query"], side["test"]
    result = by_lines(args.data.parent / "world.json", cosine_similarity(qv, gv), qi, gi, qc, gc)
    print(json.dumps(result) if args.json else result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
