"""Where fused retrieval misses at rank 1, by vehicle type and by whether the query shows a plate.

    .venv/bin/python scripts/reid_misses.py [--models reid/models] [--data data/reid-fleet/reid] [--json]

Runs the held-out evaluation of ``roadwatch eval reid`` (same split, same fused ranking with
``reid.missing_plate_cosine``) and counts, per vehicle type and per query kind (with or without
a readable plate), the queries and the Rank-1 misses, and how many misses put a vehicle of the
query's own type and colour first. Types and colours come from the synthetic world's truth,
``world.json`` beside the VeRi folder.

``--details`` adds ``misses``: for each miss the query (identity, type, colour, camera, whether
it shows a plate), the item ranked first and the query's best-scored true match (identity,
type, colour, camera, plate shown, vehicle cosine, plate cosine where both show one, fused
score) and that match's rank.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig
from formats import read_veri
from reid.data import load_items
from reid.embedder import Embedder
from reid.evaluate import embed_items
from reid.metrics import fused_similarity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("reid/models"))
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--details", action="store_true", help="list every miss")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    world = args.data.parent / "world.json"
    if not world.is_file():
        print(f"error: {world} not found: this needs the synthetic world's truth")
        return 2
    fleet = {v["id"]: v for v in json.loads(world.read_text())["fleet"]}
    reid = ReidConfig()
    splits = read_veri(args.data)
    embedder = Embedder.from_files(args.models / "vehicle.onnx", args.models / "plate.onnx", threads=2)
    q = embed_items(embedder, load_items(splits["query"], reid.plate_input, embedder.two_line_aspect))
    g = embed_items(embedder, load_items(splits["test"], reid.plate_input, embedder.two_line_aspect))
    sim = fused_similarity(
        q["vehicle"],
        q["plate"],
        q["has_plate"],
        g["vehicle"],
        g["plate"],
        g["has_plate"],
        reid.missing_plate_cosine,
    )
    vehicle_cos = q["vehicle"] @ g["vehicle"].T
    plate_cos = q["plate"] @ g["plate"].T

    def item(i: int, j: int, row: np.ndarray) -> dict[str, Any]:
        who = fleet[int(g["ids"][j])]
        both = bool(q["has_plate"][i] and g["has_plate"][j])
        return {
            "identity": int(g["ids"][j]),
            "type": who["type"],
            "colour": who["colour"],
            "camera": str(g["cams"][j]),
            "plate": bool(g["has_plate"][j]),
            "vehicle_cosine": round(float(vehicle_cos[i, j]), 3),
            "plate_cosine": round(float(plate_cos[i, j]), 3) if both else None,
            "score": round(float(row[j]), 3),
        }

    details: list[dict[str, Any]] = []
    queries: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    look_alike_first: Counter[str] = Counter()
    for i in range(len(q["ids"])):
        mine = g["ids"] == q["ids"][i]
        junk = mine & (g["cams"] == q["cams"][i])
        true = mine & ~junk
        if not true.any():
            continue  # no true match in another camera: not scored, as in the evaluation
        row = np.where(junk, -np.inf, sim[i])
        top = int(np.argmax(row))
        first = int(g["ids"][top])
        me = fleet[int(q["ids"][i])]
        keys = [f"type:{me['type']}", "query:with_plate" if q["has_plate"][i] else "query:no_plate", "all"]
        for key in keys:
            queries[key] += 1
        if first != int(q["ids"][i]):
            other = fleet[first]
            best = int(np.argmax(np.where(true, row, -np.inf)))
            details.append(
                {
                    "query": {
                        "identity": int(q["ids"][i]),
                        "type": me["type"],
                        "colour": me["colour"],
                        "camera": str(q["cams"][i]),
                        "plate": bool(q["has_plate"][i]),
                    },
                    "first": item(i, top, row),
                    "match": item(i, best, row),
                    "match_rank": int((row > row[best]).sum()) + 1,
                }
            )
            for key in keys:
                misses[key] += 1
                look_alike_first[key] += (other["type"], other["colour"]) == (me["type"], me["colour"])
    result: dict[str, Any] = {
        key: {
            "queries": queries[key],
            "misses": misses[key],
            "rank1": round(1 - misses[key] / queries[key], 4),
            "misses_same_type_and_colour_first": look_alike_first[key],
        }
        for key in sorted(queries)
    }
    if args.details:
        result["misses"] = details
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
