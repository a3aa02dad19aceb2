"""Plate network alone, with and without the CTC reading loss: how much reading helps re-id.

    .venv/bin/python scripts/reid_plate_ctc.py --steps 800 --ctc 1.0 --json
    .venv/bin/python scripts/reid_plate_ctc.py --steps 800 --ctc 0 --json

Trains only the plate network (triplet + cross-entropy, plus CTC × ``--ctc``) on the plated
crops of the training identities (P×K = 16×4, seed 0) and prints plate-only mAP / Rank-1 on the
held-out query/gallery split, and the same for single- and double-line plates apart when the
plate sidecars' ``lines`` column says which is which. Needs ``data/reid-fleet`` (see
docs/REID.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig, ReidTrainConfig
from formats import read_veri
from reid.data import PKSampler, augment, load_items, to_input
from reid.losses import batch_hard_triplet_loss, classification_loss
from reid.metrics import cosine_similarity, evaluate_retrieval
from reid.nets import PLATE_SPEC, PlateTextHead, build_net
from reid.train import PLATE_AUGMENT, _ctc, lr_at
from scripts.reid_plate_lines import by_lines, plated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--ctc", type=float, default=1.0, help="weight of the CTC reading loss (0: off)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = ReidConfig().plate_input
    torch.set_num_threads(2)
    torch.manual_seed(0)
    splits = read_veri(args.data)
    items = [it for it in load_items(splits["train"], size) if it.plate is not None]
    remap = {label: i for i, label in enumerate(sorted({it.label for it in items}))}
    net = build_net(PLATE_SPEC, len(remap))
    reader = PlateTextHead(PLATE_SPEC.out_channels)
    optimizer = torch.optim.Adam([*net.parameters(), *reader.parameters()], lr=1e-3, weight_decay=5e-4)
    schedule = ReidTrainConfig(steps=args.steps)
    rng = np.random.default_rng(0)
    sampler = PKSampler([remap[it.label] for it in items], 16, 4)
    started = time.monotonic()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, schedule)
        chosen = [items[i] for i in sampler.batch(rng)]
        x = torch.from_numpy(to_input([augment(it.plate, size, PLATE_AUGMENT, rng) for it in chosen], size))  # type: ignore[arg-type]
        y = torch.tensor([remap[it.label] for it in chosen])
        out = net(x)
        loss = batch_hard_triplet_loss(out.pooled, y, 0.3) + classification_loss(
            out.logits, y, "ce", 0.1, 2.0
        )
        if args.ctc > 0:
            loss = loss + args.ctc * _ctc(reader(out.maps), [it.plate_text for it in chosen])
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    net.eval()

    def embed(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        its, flags = plated(splits[split], size)
        with torch.no_grad():
            x = torch.from_numpy(to_input([it.plate for it in its], size))  # type: ignore[misc]
            vectors = F.normalize(net.neck(net.backbone(x).mean((2, 3))), dim=1).numpy()
        return vectors, np.array([it.identity for it in its]), np.array([it.camera for it in its]), flags

    qv, qi, qc, qd = embed("query")
    gv, gi, gc, gd = embed("test")
    sim = cosine_similarity(qv, gv)
    scores = evaluate_retrieval(sim, qi, gi, qc, gc).to_dict()
    result = {
        "ctc_weight": args.ctc,
        "steps": args.steps,
        "seconds": round(time.monotonic() - started, 1),
        **scores,
        **by_lines(qd, gd, sim, qi, gi, qc, gc),
    }
    print(json.dumps(result) if args.json else result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
