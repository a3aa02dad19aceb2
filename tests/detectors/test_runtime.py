"""The exported detector in ONNX Runtime equals the torch detector; bad model files give clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detectors.export import export_detector, parity
from detectors.runtime import DetectorModelError, OnnxDetector
from detectors.twostage import DetectorSpec, TwoStageDetector
from reid.backbone import BackboneSpec

TINY = DetectorSpec(
    classes=("car", "plate"),
    backbone=BackboneSpec(depths=(1, 1, 1, 1), widths=(4, 8, 8, 16), stem_stride=4, last_stride=2),
    channels=16,
    anchor_sizes=((16.0,), (32.0,), (64.0,)),
    canonical=32.0,
    hidden=32,
    pre_nms=100,
    post_nms=50,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[TwoStageDetector, Path, Path]:
    torch.manual_seed(0)
    model = TwoStageDetector(TINY).eval()
    features, head = export_detector(model, tmp_path_factory.mktemp("onnx"), (64, 96))
    return model, features, head


@pytest.mark.parametrize("size", [(64, 96), (128, 160)])
def test_onnx_runtime_equals_torch(
    exported: tuple[TwoStageDetector, Path, Path], size: tuple[int, int]
) -> None:
    model, features, head = exported
    assert parity(model, features, size) < 1e-4
    x = np.random.default_rng(1).normal(size=(2, 3, *size)).astype(np.float32)
    got = OnnxDetector(features, head, threads=1, score_floor=0.0)(x)
    want = model.detect(torch.from_numpy(x), score_threshold=0.0)
    for (boxes, scores, classes), ref in zip(got, want, strict=True):
        assert len(boxes) == len(ref.boxes)
        order = np.argsort(-scores, kind="stable")
        ref_order = torch.argsort(ref.scores, descending=True, stable=True).numpy()
        np.testing.assert_allclose(scores[order], ref.scores.numpy()[ref_order], atol=1e-4)
        np.testing.assert_allclose(boxes[order], ref.boxes.numpy()[ref_order], atol=1e-2)
        assert (classes[order] == ref.labels.numpy()[ref_order] - 1).all()


def test_input_sides_must_be_multiples_of_32(exported: tuple[TwoStageDetector, Path, Path]) -> None:
    _, features, head = exported
    with pytest.raises(ValueError, match="multiples of 32"):
        OnnxDetector(features, head, threads=1)(np.zeros((1, 3, 60, 96), np.float32))


def test_missing_truncated_or_foreign_models(
    exported: tuple[TwoStageDetector, Path, Path], tmp_path: Path
) -> None:
    _, features, head = exported
    with pytest.raises(DetectorModelError, match="no such model file"):
        OnnxDetector(tmp_path / "none.onnx", head)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(features.read_bytes()[:1000])
    with pytest.raises(DetectorModelError, match="not a loadable ONNX model"):
        OnnxDetector(cut, head)
    with pytest.raises(DetectorModelError, match="not a roadwatch detector"):
        OnnxDetector(head, head)  # the head graph carries no detector metadata


def test_the_shipped_detector_rebuilt_in_torch_detects_what_onnx_runtime_does() -> None:
    from detectors.export import torch_from_onnx
    from detectors.stage import BUNDLED

    features, head = BUNDLED / "detector_features.onnx", BUNDLED / "detector_head.onnx"
    model, size = torch_from_onnx(features, head)
    assert size == (384, 640)
    x = np.random.default_rng(2).normal(size=(1, 3, *size)).astype(np.float32)
    got = OnnxDetector(features, head, threads=1, score_floor=0.0)(x)
    want = model.detect(torch.from_numpy(x), score_threshold=0.0)
    (boxes, scores, _), ref = got[0], want[0]
    assert len(boxes) == len(ref.boxes) > 0
    order = np.argsort(-scores, kind="stable")
    ref_order = torch.argsort(ref.scores, descending=True, stable=True).numpy()
    np.testing.assert_allclose(scores[order], ref.scores.numpy()[ref_order], atol=1e-4)
    np.testing.assert_allclose(boxes[order], ref.boxes.numpy()[ref_order], atol=1e-2)


def test_a_graph_of_another_architecture_is_not_rebuilt(
    exported: tuple[TwoStageDetector, Path, Path],
) -> None:
    from detectors.export import torch_from_onnx

    _, features, head = exported
    with pytest.raises(ValueError, match="not this detector architecture"):
        torch_from_onnx(features, head)


def test_fewer_proposals_classified_when_limited(exported: tuple[TwoStageDetector, Path, Path]) -> None:
    _, features, head = exported
    full = OnnxDetector(features, head, threads=1, score_floor=0.0)
    one = full.limited(1)
    assert one.meta.post_nms == 1
    assert full.meta.post_nms == TINY.post_nms
    assert full.limited(None) is full
    x = np.random.default_rng(3).normal(size=(2, 3, 64, 96)).astype(np.float32)
    assert all(len(boxes) <= 1 for boxes, _, _ in one(x))
    assert max(len(boxes) for boxes, _, _ in full(x)) > 1
    assert OnnxDetector(features, head, threads=1, proposals=1).meta.post_nms == 1


def test_io_binding_gives_the_same_detections(exported: tuple[TwoStageDetector, Path, Path]) -> None:
    _, features, head = exported
    plain = OnnxDetector(features, head, threads=1, score_floor=0.0)
    bound = OnnxDetector(features, head, threads=1, score_floor=0.0, io_binding=True)
    assert not plain.io_binding  # on the CPU it is off unless asked for
    x = np.random.default_rng(4).normal(size=(2, 3, 64, 96)).astype(np.float32)
    for (b1, s1, c1), (b2, s2, c2) in zip(plain(x), bound(x), strict=True):
        assert len(b1) > 0
        np.testing.assert_allclose(b1, b2, atol=1e-4)
        np.testing.assert_allclose(s1, s2, atol=1e-6)
        assert (c1 == c2).all()
