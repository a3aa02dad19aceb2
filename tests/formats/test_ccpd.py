"""CCPD file names: the README example, index tables, round trips, encoding and decoding errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats import (
    ADS,
    ALPHABETS,
    PROVINCES,
    DatasetError,
    PlateSample,
    ccpd_name,
    parse_ccpd_name,
    read_ccpd,
)
from tests.formats.conftest import ImageWriter

# The sample name given in the CCPD README (github.com/detectRecog/CCPD, "Dataset Annotations").
README_NAME = "025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg"


def with_plate(indices: str) -> str:
    """The README name with another plate field."""
    return README_NAME.replace("0_0_22_27_27_33_16", indices)


def test_lists_have_the_readme_lengths_and_sentinel() -> None:
    assert (len(PROVINCES), len(ALPHABETS), len(ADS)) == (34, 25, 35)
    assert PROVINCES[-3:] == ("警", "学", "O")
    assert ALPHABETS[-1] == ADS[-1] == "O"
    assert "I" not in ADS
    assert "O" not in ADS[:-1]


def test_readme_example() -> None:
    plate = parse_ccpd_name(README_NAME)
    assert plate.text == "皖AY339S"
    assert plate.xyxy == (154, 383, 386, 473)
    # File order is right-bottom, left-bottom, left-top, right-top; ours is TL, TR, BR, BL.
    assert plate.corners is not None
    np.testing.assert_array_equal(plate.corners, [[154, 383], [363, 402], [386, 473], [177, 454]])
    assert plate.plate_format == "cn"
    assert plate.image_path == Path(README_NAME)


@pytest.mark.parametrize(
    ("indices", "text"),
    [
        pytest.param("0_0_22_27_27_33_16", "皖AY339S", id="readme"),
        pytest.param("12_0_24_25_26_27_28", "京A01234", id="digits"),
        pytest.param("31_23_24_24_24_24_24", "警Z00000", id="police-province-last-letter"),
        # CCPD2020 green plate example from PaddleOCR's CCPD tutorial.
        pytest.param("0_0_3_32_30_31_30_30", "皖AD86766", id="new-energy-8"),
        # Index 33 is "O", the README's "no character" sign: left out of the text.
        pytest.param("33_0_24_24_24_24_24", "A00000", id="no-province"),
    ],
)
def test_plate_indices(indices: str, text: str) -> None:
    assert parse_ccpd_name(with_plate(indices)).text == text


@pytest.mark.parametrize(
    "name", [README_NAME, with_plate("0_0_3_32_30_31_30_30"), with_plate("30_23_33_32_31_30_29")]
)
def test_round_trip(name: str) -> None:
    plate = parse_ccpd_name(name)
    assert ccpd_name(plate, area=25, tilt=(95, 113), brightness=37, blurriness=15) == name
    assert parse_ccpd_name(ccpd_name(plate)) == PlateSample(
        Path(ccpd_name(plate)), plate.text, plate.xyxy, plate.corners, "cn"
    )


def test_encode_by_hand_rounds_coordinates() -> None:
    corners = np.array([[10.4, 20.6], [50, 21], [51, 40], [9, 39.6]])
    plate = PlateSample(Path("x.jpg"), "苏E12345", (9.2, 20.6, 51, 40), corners)
    expected = "000-0_0-9&21_51&40-51&40_9&40_10&21_50&21-10_4_25_26_27_28_29-0-0.jpg"
    assert ccpd_name(plate) == expected


def test_image_path_argument() -> None:
    assert parse_ccpd_name(README_NAME, Path("/data/ccpd/x.jpg")).image_path == Path("/data/ccpd/x.jpg")
    assert parse_ccpd_name(f"ccpd_base/{README_NAME}").text == "皖AY339S"


CORNERS = np.array([[154, 383], [363, 402], [386, 473], [177, 454]], np.float32)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("皖AY339", "7 or 8 characters", id="six"),
        pytest.param("皖AY339S12", "7 or 8 characters", id="nine"),
        pytest.param("", "7 or 8 characters", id="empty"),
        pytest.param("皖AI339S", "'I' at position 2", id="letter-I"),
        pytest.param("皖0Y339S", "'0' at position 1", id="digit-as-letter"),
        pytest.param("港AY339S", "'港' at position 0", id="province-not-listed"),
        pytest.param("皖AY33OS", "'O' at position 5", id="letter-O"),
        pytest.param("OAY339S", "'O' at position 0", id="sentinel-province"),
        pytest.param("皖ay339s", "'a' at position 1", id="lowercase"),
    ],
)
def test_text_that_cannot_be_encoded(text: str, message: str) -> None:
    plate = PlateSample(Path("x.jpg"), text, (1, 1, 2, 2), CORNERS)
    with pytest.raises(DatasetError, match=message) as info:
        ccpd_name(plate)
    assert str(info.value).startswith("x.jpg: ")


def test_encode_needs_box_corners_and_non_negative_numbers() -> None:
    with pytest.raises(DatasetError, match="box and its corners"):
        ccpd_name(PlateSample(Path("x.jpg"), "皖AY339S", (1, 1, 2, 2), None))
    with pytest.raises(DatasetError, match="box and its corners"):
        ccpd_name(PlateSample(Path("x.jpg"), "皖AY339S", None, CORNERS))
    with pytest.raises(DatasetError, match="negative"):
        ccpd_name(PlateSample(Path("x.jpg"), "皖AY339S", (1, 1, 2, 2), CORNERS - 200))
    with pytest.raises(DatasetError, match="negative"):
        ccpd_name(PlateSample(Path("x.jpg"), "皖AY339S", (1, 1, 2, 2), CORNERS), brightness=-1)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("1000.jpg", "expected 7 '-'-separated fields, got 1", id="ccpd-np-no-annotation"),
        pytest.param(README_NAME.replace("-37-15", ""), "got 5", id="five-fields"),
        pytest.param(README_NAME.replace("025-", "2.5-"), "area field", id="area-not-integer"),
        pytest.param(README_NAME.replace("95_113", "95"), "tilt field must hold 2", id="one-tilt"),
        pytest.param(README_NAME.replace("386&473-386", "386&x-386"), "bbox field", id="bbox-letter"),
        pytest.param(
            README_NAME.replace("_363&402-", "-"), "vertices field must hold 8", id="three-vertices"
        ),
        pytest.param(
            with_plate("34_0_22_27_27_33_16"), r"index 34 at position 0 is outside 0\.\.33", id="prov"
        ),
        pytest.param(
            with_plate("0_25_22_27_27_33_16"), r"index 25 at position 1 is outside 0\.\.24", id="alpha"
        ),
        pytest.param(with_plate("0_0_22_27_27_33_35"), r"index 35 at position 6", id="ads"),
        pytest.param(with_plate("0_0_22_27_27_33"), "7 or 8 indices, got 6", id="six-indices"),
        pytest.param(with_plate("0_0_22_27_27_33_16_1_1"), "got 9", id="nine-indices"),
        pytest.param(README_NAME.replace("154&383_386", "400&383_386"), "x1 > x2", id="inverted-bbox"),
        pytest.param(README_NAME.replace("-15.jpg", "-.jpg"), "blurriness field", id="empty-blurriness"),
    ],
)
def test_malformed_names(name: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message) as info:
        parse_ccpd_name(name)
    assert str(info.value).startswith(f"{name}: ")


def test_read_folder(tmp_path: Path, make_image: ImageWriter) -> None:
    second = with_plate("12_0_24_25_26_27_28")
    make_image(tmp_path / second, 8, 8)
    make_image(tmp_path / README_NAME, 8, 8)
    (tmp_path / "notes.txt").write_text("not an image")
    plates = read_ccpd(tmp_path)
    assert [p.image_path for p in plates] == [tmp_path / README_NAME, tmp_path / second]
    assert [p.text for p in plates] == ["皖AY339S", "京A01234"]


def test_read_empty_and_missing_folder(tmp_path: Path) -> None:
    assert read_ccpd(tmp_path) == []
    with pytest.raises(DatasetError, match="folder not found"):
        read_ccpd(tmp_path / "nope")


def test_read_folder_with_a_foreign_name(tmp_path: Path, make_image: ImageWriter) -> None:
    bad = make_image(tmp_path / "car.jpg", 8, 8)
    with pytest.raises(DatasetError, match="not a CCPD name") as info:
        read_ccpd(tmp_path)
    assert str(info.value).startswith(f"{bad}: ")
