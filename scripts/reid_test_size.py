"""Vehicle input size at test time: does embedding crops larger than the training size help?

    .venv/bin/python scripts/reid_test_size.py [--checkpoint runs/reid/checkpoint.pt]
        [--sizes 128,144,160] [--data data/reid-fleet/reid] [--json]

Training crops are random-area (64–100 %) crops of a vehicle crop resized to
``reid.vehicle_input``, so a vehicle fills more of the network's input in training than the
whole crop does at test time; embedding at a larger size would undo that (Touvron et al.,
"Fixing the train-test resolution discrepancy", 2019). The vehicle network is fully
convolutional up to global pooling, so the checkpoint's weights run at any size. For each
size this exports the vehicle network (the centred pooled vector, the shipped embedding) at
that size, keeps the plate network at its training size (BN neck), and scores vehicle-only
and fused retrieval (prior ``reid.missing_plate_cosine``) on the validation identities (each
crop queries all others across cameras: the basis for a choice) and on the held-out split of
``roadwatch eval reid`` (for the record).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig
from formats import read_veri
from reid.data import load_items
from reid.embedder import Embedder
from reid.evaluate import embed_items
from reid.export import export_onnx
from reid.metrics import cosine_similarity, evaluate_retrieval, fused_similarity
from reid.train import TrainingError, load_checkpoint, net_from_checkpoint, two_line_aspect_from_meta


def _sizes(text: str) -> list[int]:
    """``--sizes``: comma-separated square input sizes of at least 32 pixels."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not sizes or min(sizes) < 32:
        raise argparse.ArgumentTypeError(f"sizes must be at least 32 pixels: {text!r}")
    return sizes


def _score(sim: Any, q: dict[str, Any], g: dict[str, Any]) -> dict[str, float]:
    s = evaluate_retrieval(sim, q["ids"], g["ids"], q["cams"], g["cams"])
    return {"mAP": round(s.mAP, 4), "rank1": round(s.rank1, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/reid/checkpoint.pt"))
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument(
        "--sizes", type=_sizes, default="128,144,160", help="square vehicle input sizes, comma-separated"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reid = ReidConfig()
    try:
        payload = load_checkpoint(args.checkpoint)
    except TrainingError as exc:  # names the file
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        layout = two_line_aspect_from_meta(payload["meta"])
        vehicle_net, plate_net = (net_from_checkpoint(payload, name) for name in ("vehicle", "plate"))
    except TrainingError as exc:
        print(f"error: {args.checkpoint}: {exc}", file=sys.stderr)
        return 2
    meta = payload["meta"]
    splits = read_veri(args.data)
    validation = load_items(splits["val"], reid.plate_input, layout)
    sets = {
        "validation": (validation, validation),
        "held_out": (
            load_items(splits["query"], reid.plate_input, layout),
            load_items(splits["test"], reid.plate_input, layout),
        ),
    }

    prior = reid.missing_plate_cosine
    report: dict[str, Any] = {"training_size": list(meta["vehicle_input"]), "prior": prior}
    with tempfile.TemporaryDirectory() as tmp:
        plate = export_onnx(plate_net, tuple(meta["plate_input"]), Path(tmp) / "plate.onnx", "neck")
        for size in args.sizes:
            vehicle = export_onnx(vehicle_net, (size, size), Path(tmp) / f"vehicle-{size}.onnx", "pooled")
            embedder = Embedder.from_files(vehicle, plate, threads=2)
            row: dict[str, Any] = {}
            for set_name, (query, gallery) in sets.items():
                q = embed_items(embedder, query)
                g = q if query is gallery else embed_items(embedder, gallery)
                fused = fused_similarity(
                    q["vehicle"],
                    q["plate"],
                    q["has_plate"],
                    g["vehicle"],
                    g["plate"],
                    g["has_plate"],
                    prior,
                )
                row[set_name] = {
                    "vehicle": _score(cosine_similarity(q["vehicle"], g["vehicle"]), q, g),
                    "fusion": _score(fused, q, g),
                }
            report[str(size)] = row
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
