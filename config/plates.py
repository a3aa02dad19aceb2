"""The ``plates`` section: which reader reads plates, which formats count, how it is trained."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from config.base import ConfigPath, Section

PlateEngine = Literal["roadwatch", "ppocr", "none"]


class PlateTrainConfig(Section):
    """``roadwatch train plates``: the recogniser trained on synthetic plates rendered on the fly."""

    steps: int = Field(6000, ge=1, le=1_000_000, description="Optimiser steps.")
    batch: int = Field(64, ge=2, le=4096, description="Plates per step.")
    lr: float = Field(2e-3, gt=0, le=1.0, description="Peak learning rate (AdamW).")
    warmup_steps: int = Field(200, ge=0, description="Linear warm-up, then cosine decay to 1 % of the peak.")
    weight_decay: float = Field(1e-4, ge=0, le=1.0, description="AdamW weight decay.")
    seed: int = Field(0, ge=0, description="Seed of the weights and of the rendered plates.")
    threads: int = Field(1, ge=1, le=256, description="Torch threads for the network.")
    workers: int = Field(1, ge=0, le=64, description="Plate-rendering processes (0: none).")
    checkpoint_every: int = Field(500, ge=1, description="Steps between checkpoints (and validation).")
    val_samples: int = Field(1000, ge=10, le=100_000, description="Held-out synthetic plates.")
    widths: tuple[int, int, int] = Field((32, 64, 128), description="Convolution stage channels.")
    hidden: int = Field(96, ge=8, le=1024, description="LSTM units per direction.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Forward-pass precision; auto: bf16 where the CPU has it natively."
    )

    @field_validator("widths")
    @classmethod
    def _positive(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 4 or max(value) > 1024:
            raise ValueError(f"widths must lie in 4..1024, got {list(value)}")
        return value


class PlatesConfig(Section):
    """Plate reading: engine, region formats and the confidence a read must reach."""

    engine: PlateEngine = Field(
        "ppocr",
        description="ppocr: PP-OCR's recogniser (from rapidocr-onnxruntime; the default, chosen by "
        "measurement, docs/PLATES.md); roadwatch: the project's own CTC recogniser; none: plates "
        "are not read.",
    )
    model: ConfigPath | None = Field(
        None,
        description="The engine's recogniser ONNX; None: the shipped one (roadwatch) or the one "
        "inside rapidocr-onnxruntime (ppocr).",
    )
    regions: tuple[str, ...] = Field(
        ("eu", "us", "br", "cn"),
        min_length=1,
        description="Regions (or groups: eu) whose formats a read may match, in order of preference.",
    )
    formats: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Your own regexes per region (full match, upper case, no separators); they "
        "replace a built-in region's formats or add a region.",
    )
    min_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="A read whose weakest character is below this is unreadable."
    )
    require_format: bool = Field(
        True, description="A read that matches no configured region's format is unreadable."
    )
    max_swaps: int = Field(3, ge=0, le=8, description="Letter/digit corrections a format may ask for.")
    threads: int = Field(1, ge=1, le=64, description="ONNX Runtime threads of the reader.")
    provider: Literal["cpu", "cuda"] = Field(
        "cpu", description="ONNX Runtime execution provider of the reader (cuda: CPU as fallback)."
    )
    train: PlateTrainConfig = Field(default_factory=PlateTrainConfig, description="Training settings.")

    @field_validator("formats")
    @classmethod
    def _regexes_compile(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for region, patterns in value.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{region}: '{pattern}' is not a regular expression ({exc})") from None
        return value
