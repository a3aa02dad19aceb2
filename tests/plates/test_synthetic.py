"""Synthetic training plates: reproducible, printable, in the reader's alphabet."""

from __future__ import annotations

import numpy as np

from plates.codec import ALPHABET
from plates.synthetic import LAYOUTS, latin_fonts, render_sample


def test_fonts_are_found() -> None:
    assert latin_fonts(), "matplotlib's DejaVu fonts at least"


def test_same_seed_same_plates() -> None:
    a = [render_sample(np.random.default_rng(3)) for _ in range(3)]
    b = [render_sample(np.random.default_rng(3)) for _ in range(3)]
    for x, y in zip(a, b, strict=True):
        assert x.text == y.text
        assert np.array_equal(x.image, y.image)


def test_samples_are_plates_of_the_alphabet() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        s = render_sample(rng)
        assert s.text
        assert set(s.text) <= set(ALPHABET)
        assert s.rows in (1, 2)
        h, w = s.image.shape[:2]
        assert s.image.dtype == np.uint8
        assert s.image.ndim == 3
        assert h >= 8
        assert w >= 8
        assert (w / h < 1.9) == (s.rows == 2) or s.rows == 1


def test_every_layout_renders() -> None:
    rng = np.random.default_rng(1)
    for layout in LAYOUTS:
        s = render_sample(rng, (layout,))
        assert len(s.text) == sum(len(g) for g in layout.groups)
        assert s.region == layout.region
