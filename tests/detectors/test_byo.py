"""Bring-your-own detectors: each output layout decoded from tiny ONNX models built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from detectors.byo import COCO_VEHICLES, OnnxYolo, decode_output
from detectors.runtime import DetectorModelError
from tests.onnx_models import constant_model

NAMES = ("car", "suv", "van", "truck", "bus", "motorcycle", "plate")
C = 80  # COCO classes


def _row(cx: float, cy: float, w: float, h: float, obj: float, cls: int, p: float) -> npt.NDArray[np.float32]:
    row = np.zeros(5 + C, np.float32)
    row[:5] = (cx, cy, w, h, obj)
    row[5 + cls] = p
    return row


FRAME = np.zeros((720, 1280, 3), np.uint8)  # letterboxed into 640×640 at scale 0.5


def test_yolov5_layout(tmp_path: Path) -> None:
    rows = np.stack(
        [
            _row(100, 100, 40, 20, 0.9, 2, 0.9),  # car: kept
            _row(102, 101, 40, 20, 0.8, 2, 0.9),  # duplicate: suppressed
            _row(300, 300, 50, 50, 0.9, 0, 0.9),  # person: not a vehicle, dropped
            _row(400, 200, 60, 40, 0.3, 7, 0.5),  # truck, score 0.15 < 0.25: dropped
        ]
    )[None]
    model = OnnxYolo(
        constant_model(tmp_path / "v5.onnx", rows, [1, 3, 640, 640]), "yolov5", COCO_VEHICLES, NAMES
    )
    found = model.detect_image(FRAME)
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [160, 180, 240, 220])  # (80..120, 90..110) / 0.5
    assert NAMES[found.class_id[0]] == "car"
    assert found.confidence[0] == pytest.approx(0.81)


def test_yolov8_and_yolo11_layout(tmp_path: Path) -> None:
    out = np.zeros((4 + C, 100), np.float32)
    out[:4, 3] = (320, 320, 100, 60)
    out[4 + 5, 3] = 0.7  # bus
    for family in ("yolov8", "yolo11"):
        path = constant_model(tmp_path / f"{family}.onnx", out[None], [1, 3, 640, 640])
        found = OnnxYolo(path, family, COCO_VEHICLES, NAMES).detect_image(FRAME)  # type: ignore[arg-type]
        assert [NAMES[c] for c in found.class_id] == ["bus"]
        np.testing.assert_allclose(found.xyxy[0], [540, 580, 740, 700])


def test_yolox_decoded_and_raw(tmp_path: Path) -> None:
    decoded = np.stack([_row(32, 32, 16, 8, 0.9, 3, 1.0)])[None]
    small = np.zeros((64, 64, 3), np.uint8)
    found = OnnxYolo(
        constant_model(tmp_path / "x.onnx", decoded, [1, 3, 64, 64]), "yolox", COCO_VEHICLES, NAMES
    ).detect_image(small)
    np.testing.assert_allclose(found.xyxy[0], [24, 28, 40, 36])
    # raw: 64×64 input → 8·8 + 4·4 + 2·2 = 84 cells; cell (x 3, y 2) of stride 8, offsets 0.5, size e^1
    raw = np.zeros((84, 5 + C), np.float32)
    raw[2 * 8 + 3, :5] = (0.5, 0.5, 1.0, 0.0, 0.9)
    raw[2 * 8 + 3, 5 + 2] = 1.0
    found = OnnxYolo(
        constant_model(tmp_path / "xr.onnx", raw[None], [1, 3, 64, 64]), "yolox-raw", COCO_VEHICLES, NAMES
    ).detect_image(small)
    cx, cy, w, h = 3.5 * 8, 2.5 * 8, np.e * 8, 8.0
    np.testing.assert_allclose(found.xyxy[0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], rtol=1e-5)


def test_plate_model_with_its_own_class_map(tmp_path: Path) -> None:
    out = np.zeros((4 + 1, 6), np.float32)  # a one-class plate model, YOLOv8 layout
    out[:, 0] = (100, 50, 40, 10, 0.9)
    path = constant_model(tmp_path / "plate.onnx", out[None], [1, 3, 256, 256])
    found = OnnxYolo(path, "yolov8", {0: "plate"}, NAMES).detect_image(np.zeros((256, 256, 3), np.uint8))
    assert [NAMES[c] for c in found.class_id] == ["plate"]


@pytest.mark.parametrize(
    ("family", "shape", "message"),
    [
        ("yolov5", (1, 10, 4), r"expected \(1, N, 5\+C\)"),
        ("yolov8", (1, 8400, 84), r"expected \(1, 4\+C, N\)"),
        ("yolov5", (2, 3, 10, 85), "expected an output of shape"),
    ],
)
def test_unexpected_output_shapes_are_refused(
    tmp_path: Path, family: str, shape: tuple[int, ...], message: str
) -> None:
    path = constant_model(tmp_path / "bad.onnx", np.zeros(shape, np.float32), [1, 3, 64, 64])
    model = OnnxYolo(path, family, COCO_VEHICLES, NAMES)  # type: ignore[arg-type]
    with pytest.raises(DetectorModelError, match=message):
        model.detect_image(np.zeros((64, 64, 3), np.uint8))


def test_model_problems_are_named(tmp_path: Path) -> None:
    dynamic = constant_model(tmp_path / "dyn.onnx", np.zeros((1, 4, 85), np.float32), [1, 3, "h", "w"])
    with pytest.raises(DetectorModelError, match="input size is dynamic"):
        OnnxYolo(dynamic, "yolov5", COCO_VEHICLES, NAMES)
    assert OnnxYolo(dynamic, "yolov5", COCO_VEHICLES, NAMES, input_size=(64, 64)).input_size == (64, 64)
    with pytest.raises(DetectorModelError, match="not roadwatch classes"):
        OnnxYolo(dynamic, "yolov5", {2: "sedan"}, NAMES)
    with pytest.raises(DetectorModelError, match="unknown detector family"):
        OnnxYolo(dynamic, "yolov9", COCO_VEHICLES, NAMES)  # type: ignore[arg-type]
    with pytest.raises(DetectorModelError, match="no such model file"):
        OnnxYolo(tmp_path / "missing.onnx", "yolov5", COCO_VEHICLES, NAMES)


def test_decoder_on_its_own() -> None:
    out = decode_output(np.stack([_row(10, 10, 4, 2, 0.5, 1, 0.5)])[None], "yolov5")
    np.testing.assert_allclose(out.boxes, [[8, 9, 12, 11]])
    assert out.classes.tolist() == [1]
    assert out.scores[0] == pytest.approx(0.25)
