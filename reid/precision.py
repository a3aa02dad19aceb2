"""Training speed on a CPU: bfloat16 autocast where the CPU computes it, channels-last layout.

Shared by the re-id and detector trainers. Only the forward pass of the convolutional
networks runs in bf16 (autocast); weights, optimiser state and losses stay fp32, so
checkpoints and exported ONNX files are fp32 either way.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU advertises bfloat16 arithmetic (``avx512_bf16`` or ``amx_bf16``).

    Without it bf16 autocast still runs, emulated and slower than fp32, so ``auto`` picks fp32.
    """
    try:
        flags = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """``bf16`` or ``fp32`` for a ``precision`` setting (``auto`` asks the CPU)."""
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    return precision


def autocast(precision: str) -> contextlib.AbstractContextManager[object]:
    """The context a forward pass runs in: CPU bf16 autocast for ``bf16``, nothing for ``fp32``."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


def set_layout(net: M, memory_format: torch.memory_format) -> M:
    """Store ``net``'s 4-d weights in ``memory_format`` (in place; values unchanged)."""
    return net.to(memory_format=memory_format)  # type: ignore[call-overload,no-any-return]
