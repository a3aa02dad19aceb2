"""roadwatch's plate recogniser: a small CRNN read with CTC, and the input layout it expects.

A rectified plate (two-row plates cut into their rows, laid side by side, as
:func:`reid.data.rectify_plate` does) is turned grey and resized to ``(32, 128)``. Six 3×3
convolutions with batch norm shrink it to a ``(1, 32)`` map of columns, a bidirectional LSTM
reads the columns in both directions, and a linear layer scores each column over the
alphabet plus the CTC blank (class 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from plates.codec import ALPHABET


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class PlateRecogniser(nn.Module):
    """CRNN: ``(N, 1, 32, 128)`` grey plates → ``(N, 32, C)`` column logits (class 0: blank).

    Args:
        widths: Channels of the three convolution stages (two convolutions in the last two).
        hidden: LSTM units per direction.
        classes: Output classes including the blank (``len(ALPHABET) + 1``).
    """

    def __init__(
        self, widths: tuple[int, int, int] = (32, 64, 128), hidden: int = 96, classes: int = len(ALPHABET) + 1
    ) -> None:
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(
            _block(1, a),
            nn.MaxPool2d(2),  # 16 × 64
            _block(a, b),
            nn.MaxPool2d(2),  # 8 × 32
            _block(b, b),
            _block(b, c),
            nn.MaxPool2d((2, 1)),  # 4 × 32
            _block(c, c),
            _block(c, c),
            nn.MaxPool2d((2, 1)),  # 2 × 32
            nn.Conv2d(c, c, (2, 1)),  # 1 × 32
            nn.ReLU(inplace=True),
        )
        self.rnn = nn.LSTM(c, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, images: Tensor) -> Tensor:
        columns = self.features(images).squeeze(2).transpose(1, 2)  # (N, 32, c)
        sequence, _ = self.rnn(columns)  # (N, 32, 2 * hidden)
        logits: Tensor = self.head(sequence)  # (N, 32, classes)
        return logits


class ProbabilityModel(nn.Module):
    """The exported graph: images → per-column class probabilities ``(N, T, C)``."""

    def __init__(self, net: PlateRecogniser) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: Tensor) -> Tensor:
        return F.softmax(self.net(images), dim=2)


def encode(texts: list[str]) -> tuple[Tensor, Tensor]:
    """CTC targets: concatenated 1-based indices into :data:`ALPHABET` and per-text lengths.

    Raises:
        ValueError: A text holds a character outside the alphabet.
    """
    index = {c: i + 1 for i, c in enumerate(ALPHABET)}
    codes = []
    for text in texts:
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(f"'{text}': characters outside the plate alphabet: {''.join(unknown)}")
        codes.append([index[c] for c in text])
    flat = [c for code in codes for c in code]
    return torch.tensor(flat, dtype=torch.int64), torch.tensor([len(c) for c in codes], dtype=torch.int64)
