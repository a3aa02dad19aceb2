"""plates.ppocr: rendered plates read exactly, two-line plates, masking, bad crops, load errors."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from plates.codec import best_path as ctc_greedy
from plates.ppocr import PlateReaderError, PpOcrReader, split_rows, to_input
from plates.read import PlateRead, PlateReader

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr_onnxruntime") is None,
    reason="rapidocr-onnxruntime is not installed (scripts/dev setup installs it: "
    "pip install --no-deps rapidocr-onnxruntime==1.4.4)",
)

Image = npt.NDArray[np.uint8]


def render(lines: list[str], width: int = 200, line_height: int = 40) -> Image:
    """A white plate with a thin black border and each line of black text centred in its band."""
    image = np.full((line_height * len(lines), width, 3), 255, np.uint8)
    cv2.rectangle(image, (1, 1), (width - 2, image.shape[0] - 2), (0, 0, 0), 1)
    for i, text in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
        origin = ((width - tw) // 2, i * line_height + (line_height + th) // 2)
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2, cv2.LINE_AA)
    return image


@pytest.fixture(scope="module")
def reader() -> PpOcrReader:
    return PpOcrReader()


def assert_reads(read: PlateRead, text: str) -> None:
    assert (read.text, read.readable, read.reason) == (text, True, "")
    assert len(read.chars) == len(text)
    assert all(0.0 < c <= 1.0 for c in read.chars)


def test_is_a_plate_reader(reader: PpOcrReader) -> None:
    engine: PlateReader = reader
    assert engine.read([]) == []


def test_classes_are_blank_metadata_then_space(reader: PpOcrReader) -> None:
    # 6623 metadata lines + PaddleOCR's blank in front and space at the end = the output size.
    assert len(reader.classes) == 6625
    assert reader.classes[0] == "<blank>"
    assert reader.classes[-1] == " "
    assert {"A", "a", "0", "京", "琼", "·", "-"} <= set(reader.classes[1:-1])


@pytest.mark.parametrize("text", ["AB123CD", "XY987ZW", "7ABC123", "KL40MN5"])
def test_reads_rendered_plate_exactly(reader: PpOcrReader, text: str) -> None:
    (read,) = reader.read([render([text])])
    assert_reads(read, text)


def test_separators_are_never_emitted(reader: PpOcrReader) -> None:
    (read,) = reader.read([render(["AB-12-CD"], width=220)])
    assert_reads(read, "AB12CD")


def test_lower_case_folds_to_upper_case(reader: PpOcrReader) -> None:
    (read,) = reader.read([render(["ab123cd"])])
    assert_reads(read, "AB123CD")


def test_two_line_plate_reads_top_then_bottom(reader: PpOcrReader) -> None:
    crop = render(["AB", "1234"], width=110)  # 110×80: aspect 1.4 < 1.9
    (read,) = reader.read([crop])
    assert_reads(read, "AB1234")


def test_two_line_aspect_zero_reads_one_line(reader: PpOcrReader) -> None:
    one_line = PpOcrReader(two_line_aspect=0.0)
    (read,) = one_line.read([render(["AB", "1234"], width=110)])
    assert read.text != "AB1234"


@pytest.mark.parametrize(
    ("crop", "reason"),
    [
        (np.zeros((0, 0, 3), np.uint8), "empty crop"),
        (np.zeros((0, 40, 3), np.uint8), "empty crop"),
        (np.zeros((10, 0), np.uint8), "empty crop"),
        (np.array([], np.uint8), "empty crop"),
        (np.full((1, 1, 3), 255, np.uint8), "crop too small"),
        (np.full((1, 200, 3), 255, np.uint8), "crop too small"),
        (np.full((40, 3, 3), 255, np.uint8), "crop too small"),
        (np.full((40, 200, 3), 1.0, np.float32), "bad crop: dtype float32, expected uint8"),
        (np.full((40, 200, 2), 255, np.uint8), "bad crop: shape (40, 200, 2), expected H×W, H×W×3 or H×W×4"),
        (np.full((40,), 255, np.uint8), "bad crop: shape (40,), expected H×W, H×W×3 or H×W×4"),
        (np.full((40, 200, 3), 255, np.uint8), "no text"),
    ],
)
def test_bad_crop_is_unreadable_never_raises(reader: PpOcrReader, crop: Image, reason: str) -> None:
    assert reader.read([crop]) == [PlateRead.unreadable(reason)]


def test_none_crop_is_empty(reader: PpOcrReader) -> None:
    assert reader.read([None]) == [PlateRead.unreadable("empty crop")]  # type: ignore[list-item]


@pytest.mark.parametrize(
    "convert",
    [
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY),
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)[:, :, None],
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA),
        lambda im: np.repeat(im, 2, axis=1)[:, ::2],  # a non-contiguous view of the same pixels
    ],
    ids=["gray", "gray-1ch", "bgra", "view"],
)
def test_other_layouts_are_converted(reader: PpOcrReader, convert: object) -> None:
    crop = convert(render(["AB123CD"]))  # type: ignore[operator]
    (read,) = reader.read([crop])
    assert_reads(read, "AB123CD")


def test_batch_of_mixed_widths_keeps_input_order(reader: PpOcrReader) -> None:
    texts = ["AB123CD", "XY98", "", "7ABC1234", "AB1234", "KL40MN5"]
    crops = [
        render(["AB123CD"], width=200),
        render(["XY98"], width=110, line_height=50),
        np.zeros((0, 0, 3), np.uint8),
        render(["7ABC1234"], width=260, line_height=44),
        render(["AB", "1234"], width=110),
        render(["KL40MN5"], width=180, line_height=36),
    ]
    reads = reader.read(crops)
    assert [r.text for r in reads] == texts
    assert reads[2] == PlateRead.unreadable("empty crop")
    assert reads == [reader.read([c])[0] for c in crops]  # one line per call: reads are independent
    batched = PpOcrReader(batch_size=4).read(crops)  # lines sorted by width, padded per call
    assert [r.text for r in batched] == texts


@pytest.mark.parametrize(
    ("frames", "text", "chars"),
    [
        ([], "", ()),
        ([0, 0], "", ()),
        ([1], "A", (0.9,)),
        ([1, 1, 2], "AB", (0.9, 0.9)),  # a repeat collapses
        ([1, 0, 1], "AA", (0.9, 0.9)),  # a blank separates a double letter
        ([2, 2, 0, 0, 1, 2], "BAB", (0.9, 0.9, 0.9)),
    ],
)
def test_ctc_greedy(frames: list[int], text: str, chars: tuple[float, ...]) -> None:
    probs = np.full((len(frames), 3), 0.05, np.float32)
    probs[np.arange(len(frames)), frames] = 0.9
    got_text, got_chars = ctc_greedy(probs, "AB")
    assert got_text == text
    assert got_chars == pytest.approx(chars)


def test_ctc_confidence_is_best_frame_of_run() -> None:
    probs = np.array([[0.1, 0.6, 0.3], [0.1, 0.8, 0.1], [0.3, 0.7, 0.0], [0.9, 0.05, 0.05]], np.float32)
    text, chars = ctc_greedy(probs, "AB")
    assert text == "A"
    assert chars == pytest.approx((0.8,))


def test_decode_folds_case_and_counts_other_classes_as_blank(reader: PpOcrReader) -> None:
    index = {c: i for i, c in enumerate(reader.classes)}
    probs = np.zeros((1, 4, len(reader.classes)), np.float32)
    probs[0, 0, [index["a"], index["A"], index["-"]]] = 0.3, 0.3, 0.4  # 'A' at 0.6
    probs[0, 1, [index["-"], index["B"]]] = 0.7, 0.3  # a separator frame: blank, not 'B'
    probs[0, 2, [index["B"], index["·"], index[" "]]] = 0.3, 0.35, 0.35  # blank again
    probs[0, 3, [index["b"], index["<blank>"]]] = 0.55, 0.45  # 'B' from lower case
    ((text, chars),) = reader._decode(probs)
    assert text == "AB"
    assert chars == pytest.approx((0.6, 0.55))


def test_split_rows() -> None:
    wide = np.zeros((20, 40, 3), np.uint8)  # aspect 2.0
    assert [r.shape for r in split_rows(wide, 1.9)] == [(20, 40, 3)]
    assert [r.shape for r in split_rows(wide, 2.0)] == [(20, 40, 3)]
    rows = split_rows(wide, 2.5)
    assert [r.shape for r in rows] == [(11, 40, 3), (11, 40, 3)]
    assert all(r.base is wide for r in rows)  # views: the caller's crop is not copied


def test_to_input_resizes_normalises_and_pads() -> None:
    white = np.full((24, 48, 3), 255, np.uint8)  # → 48×96
    black = np.zeros((10, 10, 3), np.uint8)  # → 48×48, padded to 96
    huge = np.zeros((10, 1000, 3), np.uint8)  # → 48×320 (capped)
    batch = to_input([white, black])
    assert batch.shape == (2, 3, 48, 96)
    assert batch.dtype == np.float32
    assert np.all(batch[0] == 1.0)
    assert np.all(batch[1, :, :, :48] == -1.0)
    assert np.all(batch[1, :, :, 48:] == 0.0)
    assert to_input([huge]).shape == (1, 3, 48, 320)


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    hint = re.escape("pip install --no-deps rapidocr-onnxruntime==1.4.4")
    with pytest.raises(PlateReaderError, match=hint):
        PpOcrReader()


def test_missing_or_bad_model_file(tmp_path: Path) -> None:
    with pytest.raises(PlateReaderError, match="no such model file"):
        PpOcrReader(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(PlateReaderError, match="not a loadable ONNX model"):
        PpOcrReader(junk)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alphabet": ""}, "alphabet: empty"),
        ({"alphabet": "AAB"}, "alphabet: repeated"),
        ({"alphabet": "AB\u2603"}, "alphabet: the model cannot read"),
        ({"threads": 0}, "threads: must be >= 1"),
        ({"batch_size": 0}, "batch_size: must be >= 1"),
        ({"two_line_aspect": -1.0}, "two_line_aspect: must be >= 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PpOcrReader(**kwargs)  # type: ignore[arg-type]
