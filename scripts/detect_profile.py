"""Where a first detection pass spends its time: feature graph, proposals (NMS), head.

    .venv/bin/python scripts/detect_profile.py [--models DIR] [--repeats 20] [--json]

Runs the shipped ONNX detector (or ``--models DIR``) on a random 384×640 input, 2 threads,
and reports the median milliseconds of the feature graph, of proposal selection with
ONNX Runtime's NMS kernel (``detectors.npbox.nms``, what the runtime uses) and with the numpy
loop it replaced (``greedy_nms``), and of the head. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from train_step_time import median_seconds  # beside this script

from detectors import npbox
from detectors.npbox import greedy_nms
from detectors.runtime import OnnxDetector

MODELS = Path(__file__).resolve().parent.parent / "detectors" / "models"


def _median_ms(run: Callable[[], Any], repeats: int) -> float:
    return round(1000 * median_seconds(run, repeats), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=Path, default=MODELS, help="folder with the two ONNX files")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per part (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    det = OnnxDetector(args.models / "detector_features.onnx", args.models / "detector_head.onnx", threads=2)
    size = det.meta.input_size
    x = np.random.default_rng(0).normal(size=(1, 3, *size)).astype(np.float32)
    levels = len(det.meta.strides)
    outputs = det.features.run(None, {"images": x})
    scores, deltas, maps = outputs[:levels], outputs[levels : 2 * levels], outputs[2 * levels :]
    anchors = det._anchors_for(maps)

    def proposals() -> Any:
        return det._proposals(0, scores, deltas, anchors, size)

    def greedy_proposals() -> Any:
        with mock.patch.object(npbox, "nms", greedy_nms):  # batched_nms calls npbox.nms
            return proposals()

    kept = proposals()
    report = {
        "input": list(size),
        "features_ms": _median_ms(lambda: det.features.run(None, {"images": x}), args.repeats),
        "proposals_ms": _median_ms(proposals, args.repeats),
        "proposals_numpy_nms_ms": _median_ms(greedy_proposals, args.repeats),
        "head_ms": _median_ms(lambda: det._classify(maps, [kept], size), args.repeats),
        "proposals": len(kept),
        "same_proposals": bool(np.array_equal(kept, greedy_proposals())),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
