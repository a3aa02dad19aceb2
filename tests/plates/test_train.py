"""The recogniser's trainer: it runs, resumes exactly, refuses a foreign checkpoint; ONNX agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from config.plates import PlateTrainConfig
from plates.codec import ALPHABET, INPUT_SIZE
from plates.ctc import CtcReader
from plates.net import PlateRecogniser, encode
from plates.train import (
    PlateTrainingError,
    ctc_loss,
    export_recogniser,
    lr_at,
    parity,
    render_batch,
    train_plates,
)

TINY = {
    "steps": 4,
    "batch": 4,
    "checkpoint_every": 2,
    "val_samples": 10,
    "workers": 0,
    "widths": (8, 8, 8),
    "hidden": 8,
}


def _cfg(**kw: object) -> PlateTrainConfig:
    return PlateTrainConfig(**{**TINY, **kw})  # type: ignore[arg-type]


def test_the_network_gives_a_column_per_step() -> None:
    net = PlateRecogniser((8, 8, 8), 8)
    assert net(torch.zeros(3, 1, *INPUT_SIZE)).shape == (3, 32, len(ALPHABET) + 1)


def test_encode_refuses_characters_outside_the_alphabet() -> None:
    flat, lengths = encode(["AB1", "京A"])
    assert lengths.tolist() == [3, 2]
    assert flat.tolist() == [11, 12, 2, 37, 11]
    with pytest.raises(ValueError, match="outside the plate alphabet: -ab"):
        encode(["ab-1"])


def test_ctc_loss_is_finite_and_falls_for_the_right_text() -> None:
    logits = torch.zeros(1, 32, len(ALPHABET) + 1)
    logits[0, ::2, 0] = 5.0  # blanks on even columns
    logits[0, 1, 11] = logits[0, 3, 12] = 5.0  # A then B
    assert ctc_loss(logits, ["AB"]) < ctc_loss(logits, ["BA"])
    assert torch.isfinite(ctc_loss(logits, ["A" * 40]))  # too long to align: zero, not inf


def test_batches_are_reproducible_by_index() -> None:
    a, b = render_batch(0, 5, 3), render_batch(0, 5, 3)
    assert a.texts == b.texts
    assert np.array_equal(a.images, b.images)
    assert render_batch(0, 6, 3).texts != a.texts
    assert a.images.shape == (3, 1, *INPUT_SIZE)


@pytest.mark.parametrize(("step", "expected"), [(0, 1e-3), (1, 2e-3), (2, 2e-3), (10, 2e-5)])
def test_lr_warms_up_then_decays(step: int, expected: float) -> None:
    assert lr_at(step, _cfg(steps=10, warmup_steps=2, lr=2e-3)) == pytest.approx(expected)


def test_training_runs_checkpoints_and_resumes_exactly(tmp_path: Path) -> None:
    full, net_full = train_plates(tmp_path / "full", _cfg())
    assert full.steps == 4
    assert (tmp_path / "full" / "checkpoint.pt").is_file()
    assert 0.0 <= full.val_exact <= 1.0
    train_plates(tmp_path / "split", _cfg(steps=2))
    resumed, net_resumed = train_plates(tmp_path / "split", _cfg(), resume=True)
    assert resumed.steps == 4
    for a, b in zip(net_full.state_dict().values(), net_resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_of_another_shape_is_refused(tmp_path: Path) -> None:
    train_plates(tmp_path, _cfg(steps=2))
    with pytest.raises(PlateTrainingError, match="hidden=8, not 16"):
        train_plates(tmp_path, _cfg(hidden=16), resume=True)


def test_export_agrees_with_torch_and_reads(tmp_path: Path) -> None:
    _, net = train_plates(tmp_path, _cfg(steps=1))
    model = export_recogniser(net, tmp_path / "reader.onnx")
    assert parity(net, model) < 1e-4
    reader = CtcReader(model)
    assert reader.alphabet == ALPHABET
    reads = reader.read([np.zeros((20, 90, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)])
    assert len(reads) == 2
    assert reads[1].reason == "crop too small"
