"""``roadwatch eval plates`` and ``roadwatch read`` run end to end (detector and PP-OCR reader),
count from the labels, and answer bad input with one line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from roadwatch.cli import main
from tests.support import last_json, rendered_world

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr_onnxruntime") is None,
    reason="PP-OCR reader absent: pip install --no-deps rapidocr-onnxruntime==1.4.4 (scripts/dev does)",
)


def test_eval_plates_on_a_synthetic_world_counts_the_truths_readable_plates(
    tiny_scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = rendered_world(tiny_scenario, tmp_path / "world")
    assert (
        main(["eval", "plates", "--data", str(world), "--format", "synthetic", "--every", "4", "--json"]) == 0
    )
    summary = last_json(capsys.readouterr().out)
    expected_images = expected_plates = 0
    for truth in (world / "truth").glob("*.json"):
        frames = json.loads(truth.read_text())["frames"]
        kept = frames[::4]
        expected_images += len(kept)
        expected_plates += sum(
            1
            for f in kept
            for v in f["vehicles"]
            if v["plate_readable"] and v["plate_text"] and v["plate_xyxy"]
        )
    assert summary["images"] == expected_images
    assert summary["plates_truth"] == expected_plates
    assert 0 <= summary["exact"] <= summary["plates_detected"] <= summary["plates_truth"]
    assert summary["engine"] == "ppocr"
    assert {"accuracy", "false_reads", "ms_per_image"} <= summary.keys()


def test_read_answers_for_a_photo_without_plates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "wall.png"
    cv2.imwrite(str(photo), np.full((120, 160, 3), 90, np.uint8))
    assert main(["read", str(photo), "--json"]) == 0
    assert last_json(capsys.readouterr().out) == {"photo": str(photo), "plates": []}


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no such file"), (b"\xff\xd8\xff junk", "not an image")]
)
def test_read_names_a_missing_or_corrupt_photo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    photo = tmp_path / "p.jpg"
    if content is not None:
        photo.write_bytes(content)
    assert main(["read", str(photo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "p.jpg" in err[0]
    assert message in err[0]


def test_eval_plates_refuses_a_folder_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "plates", "--data", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_read_answers_for_a_12000_by_9000_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "big.jpg"
    image = np.full((9000, 12000, 3), 110, np.uint8)
    cv2.rectangle(image, (5000, 6000), (7000, 6450), (240, 240, 240), -1)  # a white plate-like board
    cv2.putText(image, "AB123CD", (5100, 6380), cv2.FONT_HERSHEY_SIMPLEX, 14, (20, 20, 20), 40)
    assert cv2.imwrite(str(photo), image)
    assert main(["read", str(photo), "--json"]) == 0
    answer = last_json(capsys.readouterr().out)
    assert answer["photo"] == str(photo)
    for plate in answer["plates"]:  # whatever it finds lies inside the photo
        x1, y1, x2, y2 = plate["box"]
        assert 0 <= x1 < x2 <= 12000
        assert 0 <= y1 < y2 <= 9000


def test_bench_plates_times_each_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "plates", "--plates", "6", "--batch", "4", "--json"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["plates"] == 6
    assert set(result["engines"]) == {"ppocr", "roadwatch"}
    for row in result["engines"].values():
        assert 0 < row["ms_per_plate_p50"] <= row["ms_per_plate_p95"]
        assert row["ms_per_plate_batched"] > 0
        assert 0 <= row["exact_one_row"] <= 1
        assert row["exact_two_rows"] is None or 0 <= row["exact_two_rows"] <= 1
    assert 0 <= result["two_row_plates"] <= 6


def test_bench_plates_refuses_zero_plates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "plates", "--plates", "0"]) == 2
    assert "--plates" in capsys.readouterr().err
