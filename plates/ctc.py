"""Read plates with roadwatch's own recogniser (``roadwatch train plates``) in ONNX Runtime.

The model file carries its alphabet and two-row layout in its metadata; a plate is turned grey,
its rows laid side by side when it has two, resized to ``(32, 128)`` and read in one batched
call; best-path CTC decoding gives the text and each character's confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from plates.codec import ALPHABET_KEY, INPUT_SIZE, greedy_decode, to_input
from plates.read import Image, PlateRead, to_bgr

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS / "reader.onnx"


class RecogniserError(RuntimeError):
    """The recogniser file cannot be used; one line for the user, naming the file."""


class CtcReader:
    """roadwatch's recogniser: rectified plates (as printed) → reads without formats applied.

    Args:
        model: The ONNX file; None: the shipped ``plates/models/reader.onnx``.
        providers: ONNX Runtime execution providers.
        threads: Intra-op threads.

    Raises:
        RecogniserError: The file is missing, not ONNX, or lacks the alphabet metadata.
    """

    def __init__(
        self,
        model: Path | None = None,
        *,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
    ) -> None:
        path = model or DEFAULT_MODEL
        if not path.is_file():
            raise RecogniserError(f"{path}: plate recogniser not found (train one: roadwatch train plates)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=list(providers))
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise RecogniserError(f"{path}: not a usable ONNX model ({str(exc).splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if ALPHABET_KEY not in meta:
            raise RecogniserError(f"{path}: no '{ALPHABET_KEY}' metadata; not a roadwatch plate recogniser")
        self.alphabet = meta[ALPHABET_KEY]
        self.path = path

    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        """Read each crop; a crop it cannot use gives ``PlateRead.unreadable`` with the reason."""
        images = [to_bgr(crop) for crop in crops]
        reads = [PlateRead.unreadable(im) if isinstance(im, str) else None for im in images]
        usable = [im for im in images if not isinstance(im, str)]
        if usable:
            probs = np.asarray(
                self.session.run(["probabilities"], {"images": to_input(usable, INPUT_SIZE)})[0]
            )
            decoded = iter(greedy_decode(probs, self.alphabet))
            reads = [r if r is not None else _read(*next(decoded)) for r in reads]
        return [r for r in reads if r is not None]


def _read(text: str, chars: tuple[float, ...]) -> PlateRead:
    return PlateRead(text, chars) if text else PlateRead.unreadable("no text")
