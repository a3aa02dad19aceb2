"""The configured detection stage: a user's ONNX detector through the config, errors at start-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from config.schema import DetectorsConfig
from detectors.runtime import DetectorModelError
from detectors.stage import CLASSES, build_detector
from streams.frame import Frame
from tests.onnx_models import constant_model


def _yolov8(path: Path) -> Path:
    out = np.zeros((1, 4 + 80, 100), np.float32)
    out[0, :4, 0] = (320, 320, 100, 60)
    out[0, 4 + 2, 0] = 0.9  # COCO car
    return constant_model(path, out, [1, 3, 640, 640])


def test_user_detector_through_the_config(tmp_path: Path) -> None:
    cfg = DetectorsConfig.model_validate(
        {
            "vehicle": {"kind": "yolov8", "model": str(_yolov8(tmp_path / "v8.onnx"))},
            "plate": {"kind": "none"},
        }
    )
    stage = build_detector(cfg)
    assert stage is not None
    frame = Frame(image=np.zeros((640, 640, 3), np.uint8), camera_id="cam", index=0, timestamp=0.0)
    found = stage.detect(frame)
    assert [CLASSES[c] for c in found.class_id] == ["car"]
    np.testing.assert_allclose(found.xyxy[0], [270, 290, 370, 350])


def test_user_plate_model_runs_in_each_vehicle_crop(tmp_path: Path) -> None:
    plate = np.zeros((1, 5, 50), np.float32)
    plate[0, :, 0] = (50, 30, 40, 10, 0.9)  # in the vehicle crop's letterboxed input
    cfg = DetectorsConfig.model_validate(
        {
            "vehicle": {"kind": "yolov8", "model": str(_yolov8(tmp_path / "v8.onnx"))},
            "plate": {
                "kind": "yolov8",
                "model": str(constant_model(tmp_path / "p.onnx", plate, [1, 3, 100, 100])),
            },
        }
    )
    stage = build_detector(cfg)
    assert stage is not None
    found = stage.detect_image(np.zeros((640, 640, 3), np.uint8))
    names = [CLASSES[c] for c in found.class_id]
    assert names == ["car", "plate"]
    assert found.parent.tolist() == [-1, 0]
    # the 100×60 car crop is letterboxed into 100×100 at scale 1: plate (30..70, 25..35) + car corner
    np.testing.assert_allclose(found.xyxy[1], [270 + 30, 290 + 25, 270 + 70, 290 + 35])


def test_wrong_models_are_refused_at_start(tmp_path: Path) -> None:
    bad = constant_model(tmp_path / "bad.onnx", np.zeros((1, 8400, 84), np.float32), [1, 3, 64, 64])
    cfg = DetectorsConfig.model_validate(
        {"vehicle": {"kind": "yolov8", "model": str(bad)}, "plate": {"kind": "none"}}
    )
    with pytest.raises(DetectorModelError, match=r"bad\.onnx: yolov8: expected \(1, 4\+C, N\)"):
        build_detector(cfg)
    missing = DetectorsConfig.model_validate({"vehicle": {"kind": "builtin"}, "models": str(tmp_path)})
    with pytest.raises(DetectorModelError, match=r"detector_features\.onnx: no such model file"):
        build_detector(missing)


def test_none_means_no_stage() -> None:
    assert build_detector(DetectorsConfig.model_validate({"vehicle": {"kind": "none"}})) is None


def test_builtin_is_the_default() -> None:
    assert DetectorsConfig().vehicle.kind == "builtin"


def test_a_batch_of_frames_finds_what_each_frame_finds_alone(tiny_scenario: Path) -> None:
    """The built-in detector's first passes of several frames run as one batch; each frame's
    detections are the ones it gets on its own."""
    from synth.render import CameraRenderer
    from synth.scenario import load_scenario
    from synth.world import simulate

    stage = build_detector(DetectorsConfig())
    assert stage is not None
    renderer = CameraRenderer(simulate(load_scenario(tiny_scenario), 0), "entry")
    frames = [Frame("entry", i, i / 5, renderer.render(i)[0]) for i in range(8, 40, 4)]
    alone = [stage.detect(frame) for frame in frames]
    together = stage.detect_many(frames)
    assert sum(len(d) for d in alone) > 0
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_array_equal(a.parent, b.parent)
