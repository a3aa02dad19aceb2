"""Export the trained networks to single-file ONNX and check onnxruntime agrees with torch."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from reid.nets import EmbeddingModel, Feature, ReidNet

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-4


def export_onnx(
    net: ReidNet,
    input_size: tuple[int, int],
    path: Path,
    feature: Feature = "neck",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``net``'s inference graph (images → L2-normalised ``feature``) as one ONNX file.

    Input ``images``: float32 ``(N, 3, H, W)``, dynamic N; output ``embedding``: ``(N, D)``.
    ``metadata`` goes into the file's metadata properties (e.g. :data:`TWO_LINE_ASPECT_KEY`).
    """
    model = EmbeddingModel(net, feature).eval()
    example = torch.zeros(2, 3, *input_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet_onnx_export(
        model,
        (example,),
        path,
        input_names=["images"],
        output_names=["embedding"],
        dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1, max=65536)}},
    )
    strip_metadata(path, metadata)
    return path


def quiet_onnx_export(
    module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path, **kwargs: Any
) -> None:
    """``torch.onnx.export`` into one file (no external data), its warnings and info logs hushed
    (it warns, for one, that the optional torchvision ops are absent); ``kwargs`` go to it."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, str(path), external_data=False, verbose=False, **kwargs)
    finally:
        exporter_log.setLevel(level)


def strip_metadata(path: Path, keep: Mapping[str, str] | None = None) -> None:
    """Drop the exporter's per-node debug metadata (stack traces with this machine's paths);
    ``keep`` becomes the model's own metadata properties."""
    model = onnx.load(str(path))
    if keep:
        onnx.helper.set_model_props(model, dict(keep))
    for graph in [model.graph, *(f for f in model.functions)]:
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
    for value in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        del value.metadata_props[:]
    onnx.save(model, str(path))


def parity(
    net: ReidNet,
    input_size: tuple[int, int],
    path: Path,
    *,
    feature: Feature = "neck",
    batch: int = 8,
    seed: int = 0,
) -> float:
    """Max absolute difference between torch and onnxruntime embeddings on random inputs."""
    model = EmbeddingModel(net, feature).eval()
    x = torch.from_numpy(np.random.default_rng(seed).normal(size=(batch, 3, *input_size)).astype(np.float32))
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["embedding"], {"images": x.numpy()})[0]
    return float(np.abs(np.asarray(got) - expected).max())
