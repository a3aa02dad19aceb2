"""Plate network alone, with and without the CTC reading loss: how much reading helps re-id.

    .venv/bin/python scripts/reid_plate_ctc.py --steps 800 --ctc 1.0 --json
    .venv/bin/python scripts/reid_plate_ctc.py --steps 800 --ctc 0 --json
    .venv/bin/python scripts/reid_plate_ctc.py --steps 800 --views --json
    .venv/bin/python scripts/reid_plate_ctc.py --steps 800 --skip-double-line-text --json
    .venv/bin/python scripts/reid_plate_ctc.py --steps 800 --no-two-line-layout --json

Trains only the plate network (triplet + cross-entropy, plus CTC × ``--ctc``) on the plated
crops of the training identities (P×K = 16×4, seed 0) and prints plate-only mAP / Rank-1 on the
held-out query/gallery split, and the same for single- and double-line plates apart when the
plate sidecars' ``lines`` column says which is which. Needs ``data/reid-fleet`` (see
docs/REID.md).

Two probes for double-line plates (both need the ``lines`` column):

- ``--views``: the network sees each plate twice side by side, whole and cut into its upper and
  lower halves placed in a row (``plate_views``: input twice as wide), so a double-line plate's
  two lines become one; the reader reads the whole view of a single-line plate and the halves
  of a double-line one.
- ``--skip-double-line-text``: no reading loss on double-line plates (a one-pass reader cannot
  read them; their targets may only add noise).

Plates are laid out as training lays them out (``reid.data.rectify_plate``: a plate narrower
than ``TWO_LINE_ASPECT`` gets its two rows side by side); ``--no-two-line-layout`` keeps every
plate as printed, as before that layout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.schema import ReidConfig, ReidTrainConfig
from formats import read_veri
from reid.data import PLATE_STORE_SCALE, TWO_LINE_ASPECT, PKSampler, augment, to_input
from reid.losses import batch_hard_triplet_loss, classification_loss
from reid.metrics import cosine_similarity, evaluate_retrieval
from reid.nets import PLATE_SPEC, PlateTextHead, build_net
from reid.train import PLATE_AUGMENT, _ctc, lr_at
from scripts.reid_plate_lines import by_lines, plated


def plate_views(plate: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``size`` (H, W) whole plate, then its upper and lower halves each at (H, W/2): (H, 2W)."""
    h, w = size
    half = plate.shape[0] // 2
    whole = cv2.resize(plate, (w, h), interpolation=cv2.INTER_AREA)
    upper = cv2.resize(plate[:half], (w // 2, h), interpolation=cv2.INTER_AREA)
    lower = cv2.resize(plate[half:], (w // 2, h), interpolation=cv2.INTER_AREA)
    return np.hstack([whole, upper, lower])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/reid-fleet/reid"))
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--ctc", type=float, default=1.0, help="weight of the CTC reading loss (0: off)")
    parser.add_argument("--views", action="store_true", help="whole plate + its two halves in a row")
    parser.add_argument("--skip-double-line-text", action="store_true", help="no reading loss on them")
    parser.add_argument("--no-two-line-layout", action="store_true", help="plates as printed, rows stacked")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = ReidConfig().plate_input
    net_size = (size[0], 2 * size[1]) if args.views else size
    stored = (size[0] * PLATE_STORE_SCALE, size[1] * PLATE_STORE_SCALE)  # what load_items keeps
    torch.set_num_threads(2)
    torch.manual_seed(0)
    splits = read_veri(args.data)
    layout = 0.0 if args.no_two_line_layout else TWO_LINE_ASPECT
    items, flags = plated(splits["train"], size, layout)
    if (args.views or args.skip_double_line_text) and flags is None:
        print(f"error: the plate sidecar of {args.data}'s train split has no lines column (1 or 2 rows)")
        return 2
    double_line = [bool(f) for f in flags] if flags is not None else [False] * len(items)

    def view(plate: np.ndarray) -> np.ndarray:
        return plate_views(plate, size) if args.views else plate

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
        drawn = sampler.batch(rng)
        chosen = [items[i] for i in drawn]
        crops = [view(augment(it.plate, stored if args.views else size, PLATE_AUGMENT, rng)) for it in chosen]  # type: ignore[arg-type]
        x = torch.from_numpy(to_input(crops, net_size))
        y = torch.tensor([remap[it.label] for it in chosen])
        out = net(x)
        loss = batch_hard_triplet_loss(out.pooled, y, 0.3) + classification_loss(
            out.logits, y, "ce", 0.1, 2.0
        )
        if args.ctc > 0:
            two = torch.tensor([double_line[i] for i in drawn])
            maps = out.maps
            if args.views:  # columns: the whole view's, then the halves'
                w = maps.shape[3] // 2
                maps = torch.where(two[:, None, None, None], maps[..., w:], maps[..., :w])
            texts = [
                "" if args.skip_double_line_text and double_line[i] else items[i].plate_text for i in drawn
            ]
            loss = loss + args.ctc * _ctc(reader(maps), texts)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    net.eval()

    def embed(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        its, flags = plated(splits[split], size, layout)
        with torch.no_grad():
            x = torch.from_numpy(to_input([view(it.plate) for it in its], net_size))  # type: ignore[arg-type]
            vectors = F.normalize(net.neck(net.backbone(x).mean((2, 3))), dim=1).numpy()
        return vectors, np.array([it.identity for it in its]), np.array([it.camera for it in its]), flags

    qv, qi, qc, qd = embed("query")
    gv, gi, gc, gd = embed("test")
    sim = cosine_similarity(qv, gv)
    scores = evaluate_retrieval(sim, qi, gi, qc, gc).to_dict()
    result = {
        "ctc_weight": args.ctc,
        "steps": args.steps,
        "views": args.views,
        "skip_double_line_text": args.skip_double_line_text,
        "two_line_aspect": layout,
        "seconds": round(time.monotonic() - started, 1),
        **scores,
        **by_lines(qd, gd, sim, qi, gi, qc, gc),
    }
    print(json.dumps(result) if args.json else result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
