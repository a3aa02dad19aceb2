"""Plate-only retrieval for single- and double-line plates apart, on the held-out split.

    .venv/bin/python scripts/reid_plate_lines.py [--models reid/models] [--data data/reid-fleet/reid] [--json]

Embeds the held-out plate crops (query and gallery, as ``roadwatch eval reid`` does) with the
plate model of ``--models`` and reports, for the queries of each kind, plate-only mAP / Rank-1
against every plated gallery crop, and the median cosine of a query and a gallery crop of two
identities whose plates are both of that kind (what a different plate of the same kind
scores). Which plates are double-line comes from the ``lines`` column of the plate sidecars
(``plates_<split>.csv``; the synthetic export writes it: motorcycles' plates and the rear plates
of large CN vehicles); sidecars without it give no split.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig
from formats import ReidSample, read_veri
from reid.data import TWO_LINE_ASPECT, ReidItem, load_items
from reid.embedder import Embedder
from reid.metrics import cosine_similarity, evaluate_retrieval


def by_lines(
    q_double: np.ndarray | None,
    g_double: np.ndarray | None,
    sim: np.ndarray,
    qi: np.ndarray,
    gi: np.ndarray,
    qc: np.ndarray,
    gc: np.ndarray,
) -> dict[str, Any]:
    """``single_line`` and ``double_line`` scores of a plate similarity matrix (query identities
    ``qi``, cameras ``qc`` and double-line flags ``q_double`` by rows, gallery ``gi``, ``gc``,
    ``g_double`` by columns); ``{}`` where the flags are unknown."""
    if q_double is None or g_double is None:
        return {}
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


def double_line_flags(samples: Sequence[ReidSample]) -> np.ndarray | None:
    """Whether each sample's plate has two rows, from the sidecar's ``lines`` column; None
    when any plate's row count is unknown (older sidecars, real data without the column)."""
    lines = [s.plate.lines if s.plate is not None else None for s in samples]
    if any(n is None for n in lines):
        return None
    return np.array([n == 2 for n in lines])


def plated(
    samples: Sequence[ReidSample], plate_size: tuple[int, int], two_line_aspect: float = TWO_LINE_ASPECT
) -> tuple[list[ReidItem], np.ndarray | None]:
    """The items of ``samples`` with a readable plate (laid out as :func:`reid.data.rectify_plate`
    says), and their double-line flags (see :func:`double_line_flags`)."""
    pairs = [
        (sample, item)
        for sample, item in zip(samples, load_items(samples, plate_size, two_line_aspect), strict=True)
        if item.plate is not None
    ]
    return [item for _, item in pairs], double_line_flags([sample for sample, _ in pairs])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("reid/models"))
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reid = ReidConfig()
    embedder = Embedder.from_files(args.models / "vehicle.onnx", args.models / "plate.onnx", threads=2)
    splits = read_veri(args.data)
    side = {}
    for split in ("query", "test"):
        items, flags = plated(splits[split], reid.plate_input, embedder.two_line_aspect)
        if flags is None:
            print(
                f"error: the plate sidecar of {args.data}'s {split} split has no lines column (1 or 2 rows)"
            )
            return 2
        vectors = embedder.embed_plates([it.plate for it in items]).vectors  # type: ignore[misc]
        identities, cameras = np.array([it.identity for it in items]), np.array([it.camera for it in items])
        side[split] = (vectors, identities, cameras, flags)
    (qv, qi, qc, qd), (gv, gi, gc, gd) = side["query"], side["test"]
    result = by_lines(qd, gd, cosine_similarity(qv, gv), qi, gi, qc, gc)
    print(json.dumps(result) if args.json else result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
