"""Plate formats: generated texts are legal, illegal ones are refused, rendering sizes."""

from __future__ import annotations

import numpy as np
import pytest

from synth.plates import FAMILIES, is_legal, plate_size_mm, random_style, random_text, render_plate


@pytest.mark.parametrize("family", FAMILIES)
def test_random_texts_are_legal_and_seven_characters(family: str) -> None:
    rng = np.random.default_rng(5)
    texts = [random_text(family, rng) for _ in range(300)]  # type: ignore[arg-type]
    assert all(is_legal(family, t) for t in texts)  # type: ignore[arg-type]
    assert {len(t) for t in texts} == {7}
    assert len(set(texts)) > 250  # not a handful of repeats


@pytest.mark.parametrize(
    ("family", "text", "legal"),
    [
        ("eu", "AB123CD", True),
        ("eu", "AB-123-CD", False),  # separators are printed, not part of the text
        ("eu", "AI123CD", False),  # no I/O/U in SIV series
        ("eu", "A1123CD", False),
        ("us", "ABC1234", True),
        ("us", "7ABC123", True),
        ("us", "0ABC123", False),
        ("us", "AB1234", False),
        ("cn", "皖AY339S", True),
        ("cn", "京A12345", True),
        ("cn", "皖IY339S", False),  # no I after the province
        ("cn", "XAY339S", False),  # not a province glyph
        ("cn", "皖AY339", False),
    ],
)
def test_legality_table(family: str, text: str, legal: bool) -> None:
    assert is_legal(family, text) is legal  # type: ignore[arg-type]


def test_render_refuses_an_illegal_text() -> None:
    style = random_style("eu", np.random.default_rng(0), large=False, double=False)
    with pytest.raises(ValueError, match="not a legal eu plate"):
        render_plate("HELLO", style)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("double", [False, True])
def test_render_size_follows_physical_size(family: str, double: bool) -> None:
    rng = np.random.default_rng(1)
    style = random_style(family, rng, large=False, double=double)  # type: ignore[arg-type]
    image = render_plate(random_text(family, rng), style)  # type: ignore[arg-type]
    w_mm, h_mm = plate_size_mm(style)
    assert abs(image.shape[0] - h_mm * 0.8) <= 1
    assert abs(image.shape[1] - w_mm * 0.8) <= 1
    assert image.shape[2] == 3
    assert image.dtype == np.uint8
    assert image.std() > 20  # characters were drawn, not a blank plate
