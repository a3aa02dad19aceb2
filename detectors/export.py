"""Export the two-stage detector to ONNX: a feature graph and a head graph, run by ``detectors.runtime``.

``detector_features.onnx``: ``images`` float32 ``(N, 3, H, W)`` (H and W multiples of 32,
dynamic) → per pyramid level ``l``: ``score{l}`` ``(N, h·w·A)`` objectness logits,
``delta{l}`` ``(N, h·w·A, 4)`` anchor deltas and ``map{l}`` ``(N, C, h, w)`` balanced features.

``detector_head.onnx``: ``map0..2`` plus, per level, ``rois{l}`` ``(K_l, 4)`` boxes in input
pixels and ``index{l}`` ``(K_l,)`` int64 image indices → ONNX ``RoiAlign`` per level (the
same arithmetic as ``detectors.roi_align``: half-pixel, average of 2×2 samples per bin) →
the box head → ``logits`` ``(K, C+1)`` and ``deltas`` ``(K, 4)`` in level order.

Proposal selection (top-k, decoding, NMS) between the two runs in numpy; anchors, class
names and sizes travel in the feature graph's metadata (``roadwatch.*`` keys).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, compose, helper
from torch import Tensor, nn

from detectors.twostage import DetectorSpec, TwoStageDetector
from reid.export import quiet_onnx_export, strip_metadata

OPSET = 20


class _Features(nn.Module):
    def __init__(self, model: TwoStageDetector) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        maps = self.model.features(images)
        scores, deltas = self.model.rpn(maps)
        return (*scores, *deltas, *maps)


class _Head(nn.Module):
    def __init__(self, model: TwoStageDetector) -> None:
        super().__init__()
        self.model = model

    def forward(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.classify(pooled)


def _export(module: nn.Module, example: tuple[Tensor, ...], path: Path, **kwargs: Any) -> None:
    quiet_onnx_export(module, example, path, opset_version=OPSET, **kwargs)
    strip_metadata(path)


def export_detector(model: TwoStageDetector, out: Path, input_size: tuple[int, int]) -> tuple[Path, Path]:
    """Write both graphs into ``out``; returns their paths."""
    model = model.eval()
    spec = model.spec
    levels = len(spec.anchor_sizes)
    out.mkdir(parents=True, exist_ok=True)
    features_path = out / "detector_features.onnx"
    names = [f"score{i}" for i in range(levels)] + [f"delta{i}" for i in range(levels)]
    names += [f"map{i}" for i in range(levels)]
    h32 = torch.export.Dim("h32", min=2, max=128)
    w32 = torch.export.Dim("w32", min=2, max=128)
    _export(
        _Features(model),
        (torch.zeros(2, 3, *input_size),),
        features_path,
        input_names=["images"],
        output_names=names,
        dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1, max=256), 2: 32 * h32, 3: 32 * w32}},
    )
    meta = {
        "classes": list(spec.classes),
        "strides": list(spec.strides),
        "anchor_sizes": [list(s) for s in spec.anchor_sizes],
        "anchor_ratios": list(spec.anchor_ratios),
        "canonical": spec.canonical,
        "pre_nms": spec.pre_nms,
        "post_nms": spec.post_nms,
        "input_size": list(input_size),
    }
    graph = onnx.load(str(features_path))
    helper.set_model_props(graph, {"roadwatch.detector": json.dumps(meta)})
    onnx.save(graph, str(features_path))

    mlp_path = out / "detector_head.onnx"
    size = spec.roi_size
    _export(
        _Head(model),
        (torch.zeros(3, spec.channels, size, size),),
        mlp_path,
        input_names=["pooled"],
        output_names=["logits", "deltas"],
        dynamic_shapes={"pooled": {0: torch.export.Dim("rois", min=1, max=100000)}},
    )
    mlp = onnx.load(str(mlp_path))
    pool = _roi_graph(spec.channels, size, spec.strides, mlp.ir_version, mlp.opset_import)
    merged = compose.merge_models(pool, mlp, io_map=[("pooled_out", "pooled")])
    onnx.save(merged, str(mlp_path))
    return features_path, mlp_path


def _roi_graph(
    channels: int, size: int, strides: tuple[int, ...], ir_version: int, opsets: object
) -> onnx.ModelProto:
    """RoiAlign of each level's boxes on its map, concatenated in level order."""
    nodes, inputs = [], []
    pooled = []
    for i, stride in enumerate(strides):
        inputs += [
            helper.make_tensor_value_info(f"map{i}", TensorProto.FLOAT, ["n", channels, f"h{i}", f"w{i}"]),
            helper.make_tensor_value_info(f"rois{i}", TensorProto.FLOAT, [f"k{i}", 4]),
            helper.make_tensor_value_info(f"index{i}", TensorProto.INT64, [f"k{i}"]),
        ]
        nodes.append(
            helper.make_node(
                "RoiAlign",
                [f"map{i}", f"rois{i}", f"index{i}"],
                [f"pooled{i}"],
                mode="avg",
                output_height=size,
                output_width=size,
                sampling_ratio=2,
                spatial_scale=1.0 / stride,
                coordinate_transformation_mode="half_pixel",
            )
        )
        pooled.append(f"pooled{i}")
    nodes.append(helper.make_node("Concat", pooled, ["pooled_out"], axis=0))
    graph = helper.make_graph(
        nodes,
        "roi_pool",
        inputs,
        [helper.make_tensor_value_info("pooled_out", TensorProto.FLOAT, ["k", channels, size, size])],
    )
    return helper.make_model(graph, opset_imports=list(opsets), ir_version=ir_version)  # type: ignore[call-overload]


def parity(model: TwoStageDetector, features_path: Path, input_size: tuple[int, int]) -> float:
    """Max absolute difference of the feature graph's outputs vs torch on a random batch."""
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, *input_size)).astype(np.float32))
    with torch.no_grad():
        expected = _Features(model.eval())(x)
    session = ort.InferenceSession(str(features_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})
    return float(max(np.abs(np.asarray(g) - e.numpy()).max() for g, e in zip(got, expected, strict=True)))


def torch_from_onnx(features: Path, head: Path) -> tuple[TwoStageDetector, tuple[int, int]]:
    """The exported detector back as a :class:`TwoStageDetector` in torch (eager), and its input
    size (height, width), from the two
    ONNX graphs alone: the reference path for a shipped model whose checkpoint is not at hand
    (``roadwatch bench pipeline``'s plain pipeline).

    The exporter folds a convolution's following batch norm into it (the convolution's weight,
    plus a ``<name>.weight_bias``); that batch norm is loaded as the identity plus that bias, so
    the torch model computes what the graphs compute. Batch norms the exporter kept keep their
    statistics (which the graph may share between two of them).

    Raises:
        ValueError: The graphs do not hold a detector of this architecture.
    """
    graphs = [onnx.load(str(features)), onnx.load(str(head))]
    arrays = {i.name: onnx.numpy_helper.to_array(i) for g in graphs for i in g.graph.initializer}
    raw = {p.key: p.value for p in graphs[0].metadata_props}.get("roadwatch.detector")
    if raw is None:
        raise ValueError(f"{features}: not a roadwatch detector (no roadwatch.detector metadata)")
    meta = json.loads(raw)
    weights = {k.removeprefix("model."): v for k, v in arrays.items() if k.startswith("model.")}
    state: dict[str, Tensor] = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
    for node in graphs[0].graph.node:
        if node.op_type == "BatchNormalization":
            module = node.input[1].removeprefix("model.").removesuffix(".weight")
            state[f"{module}.running_mean"] = torch.from_numpy(arrays[node.input[3]].copy())
            state[f"{module}.running_var"] = torch.from_numpy(arrays[node.input[4]].copy())
    balanced = any(k.startswith("bfp.") for k in state)
    model = TwoStageDetector(DetectorSpec(classes=tuple(meta["classes"]), balanced=balanced))
    modules = dict(model.named_modules())
    for key in [k for k in state if k.endswith(".weight_bias")]:
        bias = state.pop(key)
        norm = _norm_after(key.removesuffix(".weight_bias"))
        eps = float(getattr(modules.get(norm), "eps", 0.0))
        state[f"{norm}.weight"] = torch.ones_like(bias)
        state[f"{norm}.bias"] = bias
        state[f"{norm}.running_mean"] = torch.zeros_like(bias)
        state[f"{norm}.running_var"] = torch.full_like(bias, 1.0 - eps)  # sqrt(var + eps) = 1
    expected = model.state_dict()
    unused = ("backbone.head", "backbone.out_bn")  # the re-id head of the backbone: not in the detector
    missing = [
        k
        for k in expected
        if k not in state and not k.endswith("num_batches_tracked") and not k.startswith(unused)
    ]
    wrong = [k for k in state if k not in expected or expected[k].shape != state[k].shape]
    if missing or wrong:
        raise ValueError(
            f"{features}: not this detector architecture (missing {missing[:3]}, unexpected {wrong[:3]})"
        )
    model.load_state_dict(state, strict=False)
    return model.eval(), (int(meta["input_size"][0]), int(meta["input_size"][1]))


def _norm_after(conv: str) -> str:
    """The batch norm that follows a convolution in the detector: ``convK`` → ``bn(K+1)`` in a
    bottleneck, index + 1 in a sequential."""
    parent, _, name = conv.rpartition(".")
    if name.isdigit():
        return f"{parent}.{int(name) + 1}"
    if name.startswith("conv") and name[4:].isdigit():
        return f"{parent}.bn{int(name[4:]) + 1}"
    raise ValueError(f"no batch norm known to follow {conv}")
