"""Read plates with PP-OCRv4's text recogniser, the ONNX file inside ``rapidocr-onnxruntime``.

The package is installed ``--no-deps`` (it wants the GUI ``opencv-python``) and is never
imported: its ``__init__`` pulls in modules we lack. Only its model file is used, found with
``importlib.util.find_spec``.

The model (input ``x`` ``(N, 3, 48, W)``, output ``(N, W/8, 6625)`` softmax) has 6625 classes:
the ONNX metadata key ``character`` holds 6623 characters, one per line (Chinese, Latin
letters in both cases, digits, punctuation; no blank, no space); PaddleOCR's CTC decoder puts
the blank in front (index 0) and appends a space as the last class (6624). The reader checks
that sum against the output size.

Decoding is greedy CTC restricted to the plate ``alphabet``. Lower-case classes are first added
to their upper-case class (plates have no lower case; the model's case is a guess at plate
fonts). Every other class outside the alphabet (punctuation, other scripts, the space) is
masked: it can never be emitted, so separators (``·``, ``-``, spaces) never appear. Its
probability is counted as blank rather than dropped: a frame the model gives to a separator or
to the EU band's symbol then emits nothing, where a plain mask (argmax over blank + alphabet)
would emit that frame's runner-up plate character. On the 108 true plate boxes of the OpenALPR
EU set, exact reads were 66.7 % with the plain mask, 71.3 % with PaddleOCR's unrestricted decode
(upper-cased, filtered afterwards) and 73.1 % counting masked classes as blank.

A character's confidence is its (folded, not renormalised) probability at the best frame of its
run, in (0, 1]; a character the model rated low because it preferred a masked class keeps that
low confidence.

Lines go to the model ``batch_size`` at a time (default 1): on CPU one line per call is the
fastest (9.8 ms a line, against 16.4 ms in calls of 8 lines, single thread), and a read then
never depends on the other crops. Lines that share a call are sorted by width and zero-padded
to the widest of their call, which can change a read slightly (no loss of accuracy on the EU
set); a GPU provider wants larger batches.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from plates.codec import greedy_decode
from plates.read import Image, PlateRead, to_bgr

PACKAGE = "rapidocr_onnxruntime"
MODEL_NAME = "ch_PP-OCRv4_rec_infer.onnx"
INSTALL_HINT = "pip install --no-deps rapidocr-onnxruntime==1.4.4"
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + PROVINCES
HEIGHT = 48  # the recogniser's input height
MAX_WIDTH = 320  # PaddleOCR's rec_img_shape width; wider lines are squeezed to it
ROW_SHARE = 0.55  # each row of a two-line plate: the top and the bottom 55 % of the height
F32 = npt.NDArray[np.float32]


class PlateReaderError(RuntimeError):
    """The recogniser cannot be loaded (package missing, bad model file); one line for the user."""


def default_model() -> Path:
    """The PP-OCRv4 recogniser shipped in ``rapidocr-onnxruntime``, located without importing it.

    Raises:
        PlateReaderError: The package is not installed or lacks the model file.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise PlateReaderError(f"PP-OCR plate reader needs rapidocr-onnxruntime: {INSTALL_HINT}")
    path = Path(spec.origin).parent / "models" / MODEL_NAME
    if not path.is_file():
        raise PlateReaderError(f"{path}: missing from rapidocr-onnxruntime; reinstall: {INSTALL_HINT}")
    return path


def model_classes(session: ort.InferenceSession) -> list[str]:
    """The recogniser's classes: blank, the metadata ``character`` lines, then a space.

    Raises:
        PlateReaderError: No ``character`` metadata, or its count does not match the output size.
    """
    text = session.get_modelmeta().custom_metadata_map.get("character")
    if not text:
        raise PlateReaderError("not a PP-OCR recogniser: no 'character' metadata")
    classes = ["<blank>", *text.split("\n"), " "]
    size = session.get_outputs()[0].shape[-1]
    if isinstance(size, int) and size != len(classes):
        raise PlateReaderError(f"{len(classes)} classes from metadata but the output has {size}")
    return classes


def fold_table(classes: Sequence[str], alphabet: str) -> tuple[npt.NDArray[np.intp], list[tuple[int, int]]]:
    """Model columns of blank + ``alphabet``, and (output column, model column) pairs to add.

    Output column 0 is the blank, column ``1 + k`` is ``alphabet[k]``; a lower-case class is
    added to its upper-case letter's column.

    Raises:
        ValueError: The alphabet is empty, repeats a character or has one the model lacks.
    """
    if not alphabet:
        raise ValueError("alphabet: empty")
    if len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet: repeated characters in {alphabet!r}")
    index = {c: i for i, c in enumerate(classes)}
    missing = [c for c in alphabet if c not in index]
    if missing:
        raise ValueError(f"alphabet: the model cannot read {''.join(missing)!r}")
    columns = np.array([0, *(index[c] for c in alphabet)], np.intp)
    extra = [
        (1 + k, index[c.lower()]) for k, c in enumerate(alphabet) if c.lower() != c and c.lower() in index
    ]
    return columns, extra


def to_input(lines: Sequence[Image]) -> F32:
    """PaddleOCR's rec preprocessing, one batch: ``(N, 3, 48, W)`` float32 in [-1, 1].

    Each line is resized to height 48 keeping its aspect (width capped at 320), scaled to
    ``(x / 255 - 0.5) / 0.5`` and padded on the right with zeros to the widest line.
    """
    widths = [min(MAX_WIDTH, math.ceil(HEIGHT * line.shape[1] / line.shape[0])) for line in lines]
    batch = np.zeros((len(lines), 3, HEIGHT, max(widths)), np.float32)
    for i, (line, width) in enumerate(zip(lines, widths, strict=True)):
        resized = cv2.resize(line, (width, HEIGHT), interpolation=cv2.INTER_LINEAR)
        batch[i, :, :, :width] = resized.transpose(2, 0, 1) / 127.5 - 1.0
    return batch


def split_rows(image: Image, two_line_aspect: float) -> list[Image]:
    """One line, or the top and bottom rows of a plate narrower than ``two_line_aspect``."""
    height, width = image.shape[:2]
    if width / height >= two_line_aspect:
        return [image]
    row = math.ceil(ROW_SHARE * height)
    return [image[:row], image[height - row :]]


class PpOcrReader:
    """A :class:`plates.read.PlateReader` on PP-OCRv4's recogniser (CPU by default)."""

    def __init__(
        self,
        model: Path | None = None,
        *,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
        two_line_aspect: float = 1.9,
        alphabet: str = PLATE_ALPHABET,
        batch_size: int = 1,
    ) -> None:
        """Load the recogniser.

        Args:
            model: The recogniser's ONNX file; default the one inside ``rapidocr-onnxruntime``.
            providers: ONNX Runtime execution providers, in order of preference.
            threads: Threads for one inference call.
            two_line_aspect: Crops with width/height under this are read as two rows.
            alphabet: The only characters a read may contain (upper case; lower case folds in).
            batch_size: Lines per model call; 1 is fastest on CPU, raise it for a GPU.

        Raises:
            PlateReaderError: The package or model file is missing, or the model is unusable.
            ValueError: A bad ``threads``, ``two_line_aspect``, ``alphabet`` or ``batch_size``.
        """
        if threads < 1:
            raise ValueError(f"threads: must be >= 1, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        if two_line_aspect < 0:
            raise ValueError(f"two_line_aspect: must be >= 0, got {two_line_aspect}")
        path = default_model() if model is None else model
        if not path.is_file():
            raise PlateReaderError(f"{path}: no such model file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=list(providers))
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise PlateReaderError(f"{path}: not a loadable ONNX model ({first})") from None
        self.classes = model_classes(self.session)
        self.input_name: str = self.session.get_inputs()[0].name
        self.alphabet = alphabet
        self.two_line_aspect = two_line_aspect
        self.batch_size = batch_size
        self._columns, self._folds = fold_table(self.classes, alphabet)

    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        """Read each crop (BGR uint8; grey and BGRA are converted), in order."""
        images = [to_bgr(crop) for crop in crops]
        rows = [[] if isinstance(im, str) else split_rows(im, self.two_line_aspect) for im in images]
        decoded = iter(self._read_lines([line for r in rows for line in r]))
        reads = []
        for image, r in zip(images, rows, strict=True):
            if isinstance(image, str):
                reads.append(PlateRead.unreadable(image))
                continue
            parts = [next(decoded) for _ in r]
            text = "".join(t for t, _ in parts)
            chars = tuple(c for _, cs in parts for c in cs)
            reads.append(PlateRead(text, chars) if text else PlateRead.unreadable("no text"))
        return reads

    def _read_lines(self, lines: Sequence[Image]) -> list[tuple[str, tuple[float, ...]]]:
        """Text and confidences of each line; ``batch_size`` lines of similar width per call."""
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1] / lines[i].shape[0])
        results: list[tuple[str, tuple[float, ...]]] = [("", ())] * len(lines)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, result in zip(chunk, self._decode(self._run([lines[i] for i in chunk])), strict=True):
                results[i] = result
        return results

    def _run(self, lines: Sequence[Image]) -> F32:
        """The model's softmax ``(N, T, C)`` for the lines."""
        (probs,) = self.session.run(None, {self.input_name: to_input(lines)})
        if probs.ndim != 3 or probs.shape[2] != len(self.classes):
            expected = f"(N, T, {len(self.classes)})"
            raise PlateReaderError(f"recogniser gave shape {probs.shape}, expected {expected}")
        return np.asarray(probs, np.float32)

    def _decode(self, probs: F32) -> list[tuple[str, tuple[float, ...]]]:
        """Fold lower case into upper case, count other classes as blank, greedy-decode each line."""
        folded = probs[:, :, self._columns]  # (N, T, 1 + len(alphabet)), a copy
        for out, col in self._folds:
            folded[:, :, out] += probs[:, :, col]
        folded[:, :, 0] = np.maximum(0.0, 1.0 - folded[:, :, 1:].sum(2))  # blank + every masked class
        return greedy_decode(folded, self.alphabet)
