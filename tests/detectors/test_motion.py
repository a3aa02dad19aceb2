"""Motion proposals on a moving block over a still background; the gate decides what comes out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detectors.gate import VEHICLE_TYPES, GateNet, IntentGate, export_gate
from detectors.motion import MotionDetector, MotionProposals, MotionSpec


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    background = rng.integers(60, 100, (120, 200, 3), dtype=np.uint8)
    frames = []
    for i in range(-20, n):  # 20 frames of empty road first
        frame = background.copy()
        x = 10 + 4 * i
        if i >= 0:
            frame[40:70, x : x + 40] = (30, 30, 190)  # a red "car" moving right
        frames.append(np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8))
    return frames


def test_moving_block_becomes_one_proposal() -> None:
    motion = MotionProposals(MotionSpec(min_area_px=200))
    frames = _frames(30)
    for frame in frames[:-1]:
        motion.propose(frame)
    boxes = motion.propose(frames[-1])  # the block at x 126..166
    assert len(boxes) == 1
    x = 10 + 4 * 29
    x0, y0, x1, y1 = boxes[0]
    assert x0 <= x + 2
    assert x1 >= x + 38
    assert y0 <= 42
    assert y1 >= 68


def test_still_frames_propose_nothing() -> None:
    motion = MotionProposals()
    still = _frames(1)[0]
    for _ in range(20):
        boxes = motion.propose(still)
    assert boxes.shape == (0, 4)


@pytest.fixture(scope="module")
def gate_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return export_gate(GateNet(), tmp_path_factory.mktemp("gate") / "gate.onnx")


@pytest.mark.parametrize(("threshold", "accepted"), [(0.0, 1), (1.01, 0)])
def test_gate_decides_which_proposals_come_out(gate_file: Path, threshold: float, accepted: int) -> None:
    detector = MotionDetector(
        IntentGate(gate_file, threshold=threshold).classify, VEHICLE_TYPES, MotionSpec(history=50)
    )
    frames = _frames(30)
    for frame in frames:
        found = detector.detect_image(frame)
    assert detector.last_proposals == 1
    assert detector.last_accepted == accepted
    assert len(found) == accepted
