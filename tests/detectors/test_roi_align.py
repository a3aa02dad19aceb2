"""RoIAlign: hand-computed values, Detectron's boundary rules, and equality with ONNX Runtime's RoiAlign."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from detectors.roi_align import roi_align

# A 4×4 map whose value is 10·row + col: bilinear sampling of a linear function is exact.
ONE = torch.zeros(1, dtype=torch.int64)
RAMP = torch.tensor([[[[10.0 * r + c for c in range(4)] for r in range(4)]]])


def _align(
    rois: list[list[float]], size: tuple[int, int], scale: float = 1.0, ratio: int = 2
) -> torch.Tensor:
    boxes = torch.tensor(rois, dtype=torch.float32).reshape(-1, 4)
    return roi_align(RAMP, boxes, torch.zeros(len(boxes), dtype=torch.int64), size, scale, ratio)


def test_one_bin_over_a_linear_map_is_its_centre_value() -> None:
    # box (1,1)-(3,3) in pixels → cells (0.5,0.5)-(2.5,2.5); centre (1.5, 1.5) → 10·1.5 + 1.5
    assert _align([[1, 1, 3, 3]], (1, 1)).item() == pytest.approx(16.5)


def test_two_by_two_bins_by_hand() -> None:
    # cells (0.5..2.5); bins of 1 cell; bin centres at 1.0 and 2.0 on each axis
    out = _align([[1, 1, 3, 3]], (2, 2))
    expected = [[10 * 1 + 1, 10 * 1 + 2], [10 * 2 + 1, 10 * 2 + 2]]
    np.testing.assert_allclose(out[0, 0].numpy(), expected, atol=1e-5)


def test_spatial_scale_maps_pixels_to_cells() -> None:
    # stride 2: pixels (2,2)-(6,6) → cells (0.5,0.5)-(2.5,2.5), the same region as above
    assert _align([[2, 2, 6, 6]], (1, 1), scale=0.5).item() == pytest.approx(16.5)


def test_samples_beyond_one_cell_outside_count_zero_and_near_ones_clamp() -> None:
    # box far left: cells x in (-6.5, -4.5) → every sample x < -1 → 0
    assert _align([[-6, 0, -4, 2]], (1, 1)).item() == 0.0
    # cells x (-1, 0), y (1.5, 2.5): one sample at x = -0.5 (within a cell: clamped to 0), y = 2
    out = _align([[-0.5, 2, 0.5, 3], [3.5, 3.5, 4.5, 4.5]], (1, 1), ratio=1)
    assert out[0].item() == pytest.approx(20.0)  # value at (row 2, col 0)
    assert out[1].item() == pytest.approx(33.0)  # x, y = 3.5 → clamped to the last cell (3, 3)


def test_each_roi_reads_its_own_image() -> None:
    features = torch.cat([RAMP, RAMP + 100])
    boxes = torch.tensor([[1.0, 1, 3, 3], [1.0, 1, 3, 3]])
    out = roi_align(features, boxes, torch.tensor([1, 0]), (1, 1), 1.0)
    np.testing.assert_allclose(out.flatten().numpy(), [116.5, 16.5], atol=1e-5)


def test_no_rois_gives_an_empty_result() -> None:
    none = torch.zeros(0, dtype=torch.int64)
    out = roi_align(torch.zeros(1, 8, 5, 5), torch.zeros(0, 4), none, (7, 7), 0.25)
    assert out.shape == (0, 8, 7, 7)


@pytest.mark.parametrize(
    ("features", "rois", "index", "message"),
    [
        (torch.zeros(8, 5, 5), torch.zeros(1, 4), ONE, "features must be"),
        (torch.zeros(1, 8, 5, 5), torch.zeros(1, 5), ONE, "rois must be"),
        (torch.zeros(1, 8, 5, 5), torch.zeros(2, 4), ONE, "batch_index must be"),
        (torch.zeros(1, 8, 5, 5), torch.zeros(1, 4), torch.ones(1, dtype=torch.int64), "must lie in"),
    ],
)
def test_malformed_inputs_raise(
    features: torch.Tensor, rois: torch.Tensor, index: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        roi_align(features, rois, index, (2, 2), 1.0)


def test_equals_onnx_runtime_roialign() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 13, 17)).astype(np.float32)
    centres = rng.uniform(-8, 70, size=(40, 2))
    sizes = rng.uniform(0.5, 40, size=(40, 2))
    rois = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    index = rng.integers(0, 2, 40)
    scale, ratio, size = 0.25, 2, (7, 5)

    node = helper.make_node(
        "RoiAlign",
        ["x", "rois", "idx"],
        ["y"],
        mode="avg",
        output_height=size[0],
        output_width=size[1],
        sampling_ratio=ratio,
        spatial_scale=scale,
        coordinate_transformation_mode="half_pixel",
    )
    graph = helper.make_graph(
        [node],
        "roialign",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, list(features.shape)),
            helper.make_tensor_value_info("rois", TensorProto.FLOAT, [40, 4]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, [40]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [40, 3, *size])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"x": features, "rois": rois, "idx": index.astype(np.int64)})
    onnx.checker.check_model(model)

    ours = roi_align(
        torch.from_numpy(features), torch.from_numpy(rois), torch.from_numpy(index), size, scale, ratio
    )
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-5)


def test_gradients_reach_the_features() -> None:
    features = torch.randn(1, 2, 6, 6, requires_grad=True)
    out = roi_align(features, torch.tensor([[0.0, 0, 5, 5]]), ONE, (2, 2), 1.0)
    out.sum().backward()
    assert features.grad is not None
    assert float(features.grad.abs().sum()) > 0
