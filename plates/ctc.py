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
from plates.read import Image, PlateRead

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS / "reader.onnx"
MIN_SIDE = 4  # pixels; a smaller crop holds no readable character


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
        reads: list[PlateRead | None] = []
        usable: list[Image] = []
        for crop in crops:
            problem = _problem(crop)
            reads.append(PlateRead.unreadable(problem) if problem else None)
            if not problem:
                usable.append(_as_bgr(crop))
        if usable:
            probs = np.asarray(
                self.session.run(["probabilities"], {"images": to_input(usable, INPUT_SIZE)})[0]
            )
            decoded = iter(greedy_decode(probs, self.alphabet))
            reads = [r if r is not None else _read(*next(decoded)) for r in reads]
        return [r for r in reads if r is not None]


def _read(text: str, chars: tuple[float, ...]) -> PlateRead:
    return PlateRead(text, chars) if text else PlateRead.unreadable("no text")


def _problem(crop: Image | None) -> str:
    """Why a crop cannot be read ('' when it can)."""
    if crop is None or not hasattr(crop, "shape") or crop.size == 0:
        return "empty crop"
    if crop.dtype != np.uint8:
        return f"bad crop: dtype {crop.dtype}"
    if crop.ndim not in (2, 3) or (crop.ndim == 3 and crop.shape[2] not in (1, 3, 4)):
        return f"bad crop: shape {crop.shape}"
    if min(crop.shape[:2]) < MIN_SIDE:
        return "crop too small"
    return ""


def _as_bgr(crop: Image) -> Image:
    if crop.ndim == 2 or crop.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(crop.reshape(crop.shape[0], crop.shape[1], 1), 3, axis=2))
    return np.ascontiguousarray(crop[:, :, :3])
