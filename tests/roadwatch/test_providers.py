"""Execution providers by config: CUDA where ONNX Runtime has it, else the CPU with a warning."""

from __future__ import annotations

import logging

import onnxruntime as ort
import pytest

from config.plates import PlatesConfig
from detectors.runtime import execution_providers
from roadwatch import app


def test_cpu_is_cpu_only() -> None:
    assert execution_providers("cpu") == ("CPUExecutionProvider",)


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this ONNX Runtime has CUDA"
)
def test_cuda_without_a_cuda_runtime_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert execution_providers("cuda") == ("CPUExecutionProvider",)
    assert "no CUDA provider" in caplog.text
    reader = app.plate_reader(PlatesConfig(provider="cuda"))
    assert reader is not None
    assert reader.read([]) == []


def test_a_wrong_provider_is_named() -> None:
    with pytest.raises(ValueError, match="provider"):
        PlatesConfig.model_validate({"provider": "tpu"})
