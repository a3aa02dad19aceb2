"""The intent gate: learns vehicles from clutter on a toy set, exports, refuses bad crops and models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.gate import (
    COLOURS,
    VEHICLE_TYPES,
    GateNet,
    GateReport,
    GateSample,
    IntentGate,
    export_gate,
    score_gate,
    train_gate,
)
from detectors.runtime import DetectorModelError


def _toy(n: int, seed: int) -> list[GateSample]:
    """ "Vehicles": a flat body of a known colour with a dark window band; "clutter": noise."""
    rng = np.random.default_rng(seed)
    paints = {"red": (30, 30, 190), "blue": (150, 70, 25), "white": (235, 235, 232)}
    out = []
    for i in range(n):
        if i % 2:
            name = list(paints)[i % 3]
            crop = np.full((40, 60, 3), paints[name], np.uint8)
            crop[8:16, 10:50] = 20
            crop = np.clip(crop + rng.normal(0, 6, crop.shape), 0, 255).astype(np.uint8)
            kind = "bus" if name == "white" else "car"
            out.append(GateSample(crop, 1, VEHICLE_TYPES.index(kind), COLOURS.index(name)))
        else:
            out.append(GateSample(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), 0, -1, -1))
    return out


@pytest.fixture(scope="module")
def trained() -> tuple[GateNet, GateReport]:
    return train_gate(_toy(200, 0), _toy(60, 1), steps=60, threads=1)


def test_gate_learns_the_toy_task(trained: tuple[GateNet, GateReport]) -> None:
    _, report = trained
    assert report.vehicle_accuracy > 0.95
    assert report.colour_accuracy > 0.9
    assert report.crops == 60


def test_exported_gate_agrees_and_checks_crops(trained: tuple[GateNet, GateReport], tmp_path: Path) -> None:
    net, _ = trained
    gate = IntentGate(export_gate(net, tmp_path / "gate.onnx"))
    samples = _toy(20, 2)
    answers = gate.classify([s.crop for s in samples])
    agree = np.mean([a.is_vehicle == bool(s.vehicle) for a, s in zip(answers, samples, strict=True)])
    assert agree >= score_gate(net, samples).vehicle_accuracy - 1e-9
    assert gate.classify([]) == []
    grey = gate.classify([np.zeros((30, 30), np.uint8), np.zeros((30, 30, 4), np.uint8)])
    assert len(grey) == 2
    with pytest.raises(ValueError, match="crop 1: expected a non-empty image"):
        gate.classify([samples[0].crop, np.zeros((0, 0, 3), np.uint8)])


def test_gate_model_problems(tmp_path: Path) -> None:
    with pytest.raises(DetectorModelError, match="no such model file"):
        IntentGate(tmp_path / "none.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(DetectorModelError, match="not a loadable ONNX model"):
        IntentGate(junk)


def test_the_bundled_gate_names_colours_and_none_under_infrared(tiny_scenario: Path) -> None:
    from detectors.gate import ColourNamer
    from detectors.stage import BUNDLED
    from synth.render import CameraRenderer
    from synth.scenario import load_scenario
    from synth.world import simulate

    world = simulate(load_scenario(tiny_scenario), 0)
    namer = ColourNamer(IntentGate(BUNDLED / "gate.onnx"))
    right = named = 0
    for camera in ("entry", "exit"):
        renderer = CameraRenderer(world, camera)
        for index in range(renderer.frame_count):
            frame, truth = renderer.render(index)
            for v in truth.vehicles:
                x1, y1, x2, y2 = (int(c) for c in v.xyxy)
                if v.visibility < 0.8 or y2 - y1 < 32:
                    continue
                name = namer(frame[y1:y2, x1:x2], frame)
                if camera == "exit":
                    assert name == ""  # an infrared picture has no colour to tell
                    continue
                named += name != ""
                right += name == world.identity(v.identity).colour
    assert named >= 5
    assert right >= 0.7 * named  # the head's names in the head's order


def test_a_grey_picture_is_infrared_and_a_coloured_one_is_not() -> None:
    from detectors.gate import grey_scene

    rng = np.random.default_rng(0)
    colour = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    grey = np.repeat(colour[..., :1], 3, axis=2)
    assert grey_scene(grey)
    assert not grey_scene(colour)
