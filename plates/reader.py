"""A plate reader as the app uses it: an engine's raw read, then region formats and the floor.

The engine (:mod:`plates.ctc` or :mod:`plates.ppocr`) gives text and per-character
confidences. :func:`plates.formats.correct` then finds the first configured region whose
format the text matches, swapping confusable letters and digits only where a format demands
one, and the read becomes unreadable when its weakest character is under ``min_confidence``
or, with ``require_format``, when no region's format fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from plates.formats import PlateFormat, correct
from plates.read import Image, PlateRead, PlateReader


class FormattedReader:
    """An engine with formats and a confidence floor applied (module docstring).

    Args:
        engine: Reads crops into raw text.
        formats: Formats in order of preference (:func:`plates.formats.formats_for`).
        min_confidence: Floor on a read's weakest character.
        require_format: A read that fits no format is unreadable.
        max_swaps: Letter/digit corrections a format may ask for.
    """

    def __init__(
        self,
        engine: PlateReader,
        formats: Sequence[PlateFormat],
        *,
        min_confidence: float = 0.5,
        require_format: bool = True,
        max_swaps: int = 3,
    ) -> None:
        self.engine = engine
        self.formats = tuple(formats)
        self.min_confidence = min_confidence
        self.require_format = require_format
        self.max_swaps = max_swaps

    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        """Read each crop; formats and the floor applied."""
        return [self.finish(raw) for raw in self.engine.read(crops)] if crops else []

    def finish(self, raw: PlateRead) -> PlateRead:
        """Formats and the floor applied to one raw read."""
        if not raw.readable:
            return raw
        fitted = correct(raw.text, raw.chars, self.formats, max_swaps=self.max_swaps)
        if fitted is None:
            if self.require_format:
                return replace(raw, readable=False, reason="no region's format")
            read = raw
        else:
            read = PlateRead(fitted.text, fitted.chars, fitted.region)
        if read.confidence < self.min_confidence:
            return replace(read, readable=False, reason="low confidence")
        return read
