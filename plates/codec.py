"""The recogniser's numbers without torch: alphabet, input layout, best-path decoding.

Shared by the trainer (:mod:`plates.train`) and the run-time reader (:mod:`plates.ctc`), which
must agree on them and must not need torch.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from reid.data import TWO_LINE_ASPECT, TWO_LINE_SHARE

INPUT_SIZE = (32, 128)  # height, width
# Characters a plate reader can emit: digits, Latin capitals, Chinese province glyphs (the
# alphabet of the re-id plate network's reading head, reid.nets.PLATE_ALPHABET).
ALPHABET = (
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
)
ALPHABET_KEY = "roadwatch.alphabet"  # ONNX metadata: the alphabet, class k + 1 is ALPHABET[k]
TWO_LINE_KEY = "roadwatch.two_line_aspect"  # ONNX metadata: the two-row layout's aspect


def layout_rows(
    plate: npt.NDArray[np.uint8], two_line_aspect: float = TWO_LINE_ASPECT
) -> npt.NDArray[np.uint8]:
    """A plate as printed → one row of characters: a plate narrower than ``two_line_aspect``
    has its upper and lower rows (each :data:`TWO_LINE_SHARE` of its height) side by side."""
    h, w = plate.shape[:2]
    if h == 0 or w / h >= two_line_aspect:
        return plate
    share = max(1, round(h * TWO_LINE_SHARE))
    top, bottom = plate[:share], plate[h - share :]
    return np.ascontiguousarray(np.hstack([top, bottom]))


def to_input(
    plates: list[npt.NDArray[np.uint8]], size: tuple[int, int] = INPUT_SIZE
) -> npt.NDArray[np.float32]:
    """BGR (or grey) plates as printed → ``(N, 1, H, W)`` float32 in [-1, 1]."""
    h, w = size
    out = np.zeros((len(plates), 1, h, w), np.float32)
    for i, plate in enumerate(plates):
        grey = plate if plate.ndim == 2 else np.asarray(cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY), np.uint8)
        row = layout_rows(grey)
        resized = cv2.resize(
            row, (w, h), interpolation=cv2.INTER_AREA if row.shape[0] > h else cv2.INTER_LINEAR
        )
        out[i, 0] = resized.astype(np.float32) / 127.5 - 1.0
    return out


def best_path(probs: npt.NDArray[np.float32], alphabet: str = ALPHABET) -> tuple[str, tuple[float, ...]]:
    """Best path of one ``(T, 1 + len(alphabet))`` row (column 0 the blank): argmax per column,
    repeats collapsed, blanks dropped; a character's confidence is its highest probability over
    the run of columns that emitted it (at most 1)."""
    text: list[str] = []
    chars: list[float] = []
    previous = 0
    for t, k in enumerate(probs.argmax(1).tolist()):
        if k != 0 and k == previous:
            chars[-1] = max(chars[-1], float(probs[t, k]))
        elif k != 0:
            text.append(alphabet[k - 1])
            chars.append(float(probs[t, k]))
        previous = k
    return "".join(text), tuple(min(1.0, c) for c in chars)


def greedy_decode(
    probabilities: npt.NDArray[np.float32], alphabet: str = ALPHABET
) -> list[tuple[str, tuple[float, ...]]]:
    """:func:`best_path` of each ``(T, C)`` row of ``(N, T, C)``."""
    return [best_path(row, alphabet) for row in probabilities]
