"""Seconds per training step of the re-id networks and the detector, by precision and layout.

    .venv/bin/python scripts/train_step_time.py [--steps 10] [--json]

Times forward + backward + Adam step on random inputs of the training shapes (vehicle batch
64 at ``reid.vehicle_input``, plate batch 48 at ``reid.plate_input``; detector: 2 images at
``detectors.train.input_size`` with 4 boxes each), after 3 warm-up steps, median of
``--steps``, ``detectors.train.threads`` / ``reid.train.threads`` threads. Variants: fp32 in the
default (NCHW) layout, fp32 channels-last, bf16 autocast channels-last (what ``precision:
auto`` picks where the CPU has native bf16: see ``reid.precision``). Data loading and
augmentation are not included. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from config.schema import RoadwatchConfig as Config
from detectors.train import spec_for, train_spec_for
from detectors.twostage import TwoStageDetector
from reid.backbone import backbone_spec
from reid.nets import build_net
from reid.precision import autocast, cpu_has_native_bf16, set_layout

VARIANTS = (("fp32", False), ("fp32", True), ("bf16", True))


def median_seconds(step: Callable[[], object], steps: int) -> float:
    """Median wall time of ``step`` over ``steps`` calls, after 3 warm-up calls."""
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reid_step(cfg: Config, precision: str, channels_last: bool) -> Callable[[], None]:
    """One joint step of both re-id networks on random crops (identity and triplet losses)."""
    nets = [
        build_net(backbone_spec(cfg.reid.vehicle_net), 627),
        build_net(backbone_spec(cfg.reid.plate_net), 627),
    ]
    inputs = [torch.randn(64, 3, *cfg.reid.vehicle_input), torch.randn(48, 3, *cfg.reid.plate_input)]
    if channels_last:
        nets = [set_layout(n, torch.channels_last) for n in nets]
        inputs = [x.contiguous(memory_format=torch.channels_last) for x in inputs]
    labels = [torch.arange(64) % 16, torch.arange(48) % 16]
    optimizer = torch.optim.Adam([p for n in nets for p in n.parameters()], lr=1e-4)

    def step() -> None:
        loss = torch.zeros(())
        for net, x, y in zip(nets, inputs, labels, strict=True):
            with autocast(precision):
                out = net(x)
            loss = (
                loss
                + torch.nn.functional.cross_entropy(out.logits.float(), y)
                + out.pooled.float().pow(2).mean()
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()

    return step


def detector_step(cfg: Config, precision: str, channels_last: bool) -> Callable[[], None]:
    """One detector training step on two random images with four boxes each."""
    classes = ("car", "suv", "van", "truck", "bus", "motorcycle", "plate")
    model = TwoStageDetector(spec_for(list(classes), cfg.detectors.train))
    if channels_last:
        model = set_layout(model, torch.channels_last)
    h, w = cfg.detectors.train.input_size
    images = torch.randn(2, 3, h, w)
    boxes = torch.tensor(
        [[40.0, 60, 200, 180], [300, 100, 420, 190], [100, 200, 130, 210], [500, 50, 600, 150]]
    )
    targets = [(boxes, torch.tensor([1, 2, 7, 1]))] * 2
    train = train_spec_for(cfg.detectors.train)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    rng = np.random.default_rng(0)
    model.train()

    def step() -> None:
        x = images.contiguous(memory_format=torch.channels_last) if channels_last else images
        loss = model.losses(x, targets, train, rng, precision)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()

    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    cfg = Config()
    torch.manual_seed(0)
    report: dict[str, Any] = {"native_bf16": cpu_has_native_bf16(), "threads": cfg.reid.train.threads}
    for name, make in (("reid", reid_step), ("detector", detector_step)):
        torch.set_num_threads(cfg.reid.train.threads if name == "reid" else cfg.detectors.train.threads)
        for precision, channels_last in VARIANTS:
            key = f"{name}_{precision}{'_channels_last' if channels_last else ''}_s"
            report[key] = round(median_seconds(make(cfg, precision, channels_last), args.steps), 4)
            if not args.json:
                print(f"{key}: {report[key]:.3f}")
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
