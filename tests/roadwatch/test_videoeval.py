"""Scoring a clip's sightings against hand-made labels: the label file, matching, the figures,
the contact sheet, and ``roadwatch eval video`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from roadwatch.cli import main
from roadwatch.events import Sighting
from roadwatch.videoeval import (
    LabelError,
    VideoLabels,
    anchor_time,
    load_labels,
    match_sightings,
    score_video,
    sighting_sheet,
)
from tests.support import last_json, rendered_world

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-traffic"
FPS = 10.0


def _vehicle(
    vid: str, first: float, last: float, cross: float | None, zone: str = "near", sure: bool = True
) -> dict:
    return {"id": vid, "first_s": first, "last_s": last, "cross_y110_s": cross, "zone": zone, "sure": sure}


def _labels(tmp_path: Path, vehicles: list[dict], duration: float | None = 20.0) -> VideoLabels:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"vehicles": vehicles, "static": []}))
    return load_labels(path, duration)


def _sighting(sid: str, first: float, last: float, cross: float | None) -> Sighting:
    """A sighting whose box bottom edge moves down from row 40 and reaches row 110 at ``cross``."""
    frames = range(round(first * FPS), round(last * FPS) + 1)
    path = []
    for f in frames:
        bottom = 40.0 if cross is None else 110.0 + (f / FPS - cross) * 50.0
        path.append((f, (100.0, bottom - 30.0, 140.0, bottom)))
    ends = (first, last, frames[0], frames[-1])
    return Sighting(
        sid,
        "final",
        "clip",
        1,
        *ends,
        1,
        True,
        "vehicle",
        1.0,
        "car",
        path[-1][1],
        last,
        0.5,
        path=tuple(path),
    )


def test_each_pass_takes_one_sighting_and_the_rest_are_duplicates_neutral_or_false(tmp_path: Path) -> None:
    labels = _labels(
        tmp_path,
        [
            _vehicle("v1", 0.0, 5.0, 2.0),
            _vehicle("v2", 1.0, 6.0, 2.3),  # side by side with v1, crosses 0.3 s later
            _vehicle("v3", 8.0, 12.0, 10.0),  # missed
            _vehicle("o1", 5.2, 9.0, None, sure=False),
            _vehicle("f1", 14.0, 18.0, None, zone="far"),
        ],
    )
    sightings = [
        _sighting("a", 0.5, 4.5, 2.05),  # v1
        _sighting("b", 1.5, 5.5, 2.3),  # v2
        _sighting("c", 4.0, 4.5, None),  # a second track on v1 or v2 (no anchor): duplicate
        _sighting("d", 3.5, 6.0, None),  # within v2's span, whose pass is taken: duplicate
        _sighting("n", 6.0, 8.5, None),  # the unsure vehicle: neutral
        _sighting("e", 15.0, 17.0, None),  # the far vehicle: neutral
        _sighting("f", 19.0, 19.8, None),  # nothing there: false
    ]
    matches = {m.sighting.id: (m.label, m.kind) for m in match_sightings(sightings, labels, FPS)}
    assert matches["a"] == ("v1", "pass")
    assert matches["b"] == ("v2", "pass")
    assert matches["c"][1] == "duplicate"
    assert matches["d"] == ("v2", "duplicate")
    assert matches["n"] == ("o1", "neutral")
    assert matches["e"] == ("f1", "neutral")
    assert matches["f"] == (None, "false")
    figures = score_video(match_sightings(sightings, labels, FPS), labels)
    assert figures["passes_truth"] == 3
    assert figures["passes_found"] == 2
    assert figures["missed"] == ["v3"]
    assert figures["false_sightings"] == 1
    assert figures["sightings"] == 7
    assert figures["duplicate_sightings"] == 2
    counted = figures["sightings"] - figures["neutral_sightings"]
    assert figures["events_per_pass"] == pytest.approx(counted / 3, abs=1e-4)


def test_the_anchor_row_decides_between_vehicles_in_view_together(tmp_path: Path) -> None:
    labels = _labels(tmp_path, [_vehicle("v1", 0.0, 8.0, 2.0), _vehicle("v2", 0.0, 8.0, 5.0)])
    late, early = _sighting("late", 1.0, 7.0, 5.1), _sighting("early", 1.0, 7.0, 1.9)
    matches = {m.sighting.id: m.label for m in match_sightings([late, early], labels, FPS)}
    assert matches == {"late": "v2", "early": "v1"}


def test_the_anchor_is_where_the_box_bottom_first_reaches_the_row() -> None:
    assert anchor_time(_sighting("x", 1.0, 4.0, 2.5), FPS) == pytest.approx(2.5, abs=0.1)
    assert anchor_time(_sighting("y", 1.0, 4.0, None), FPS) is None  # never gets there
    assert anchor_time(_sighting("z", 3.0, 4.0, 2.0), FPS) is None  # already past it when born


def test_vehicles_labelled_beyond_the_clip_are_set_aside(tmp_path: Path) -> None:
    labels = _labels(
        tmp_path, [_vehicle("v1", 1.0, 3.0, 2.0), _vehicle("v9", 30.0, 33.0, 31.0)], duration=10.0
    )
    assert labels.beyond_end == ("v9",)
    assert [v.id for v in labels.passes] == ["v1"]
    assert score_video([], labels)["labels_beyond_end"] == ["v9"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"labels\.json: not valid JSON \(line 1"),
        ('{"static": []}', r"labels\.json: vehicles: missing"),
        (
            '{"vehicles": [{"id": "v1", "last_s": 2, "zone": "near", "sure": true}]}',
            r"vehicles\[0\]\.first_s: missing",
        ),
        (
            '{"vehicles": [{"id": "v1", "first_s": "soon", "last_s": 2, "zone": "near", "sure": true}]}',
            r"vehicles\[0\]\.first_s: expected a number, got 'soon'",
        ),
        (
            '{"vehicles": [{"id": "v1", "first_s": 1, "last_s": 2, "zone": "close", "sure": true}]}',
            r"vehicles\[0\]\.zone: expected 'near' or 'far'",
        ),
        (
            '{"vehicles": [{"id": "v1", "first_s": 3, "last_s": 2, "zone": "near", "sure": true}]}',
            r"vehicles\[0\]: first_s 3.0 and last_s 2.0",
        ),
        (
            '{"vehicles": [{"id": "v1", "first_s": 1, "last_s": 2, "zone": "near", "sure": 1}]}',
            r"vehicles\[0\]\.sure: expected true or false",
        ),
    ],
)
def test_a_bad_label_file_names_the_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(LabelError, match=message):
        load_labels(path)


def test_the_contact_sheet_shows_every_sighting(tmp_path: Path) -> None:
    labels = _labels(tmp_path, [_vehicle("v1", 0.0, 5.0, 2.0)])
    sightings = [_sighting("a", 0.5, 4.5, 2.0), _sighting("f", 9.0, 9.5, None)]
    crops = {"a": np.full((40, 30, 3), 200, np.uint8)}  # "f" has no crop: its tile stays empty
    sheet = sighting_sheet(tmp_path / "s.png", match_sightings(sightings, labels, FPS), crops, columns=4)
    image = cv2.imread(str(sheet))
    assert image is not None
    assert image.shape[1] == 4 * 112
    assert (image[5:30, 5:25] == 200).all()


def _labels_from_truth(world: Path, camera: str, fps: float) -> Path:
    """Labels in the real-traffic format from a synthetic camera's truth (near: 60 px)."""
    frames = json.loads((world / "truth" / f"{camera}.json").read_text())["frames"]
    seen: dict[int, dict] = {}
    for index, frame in enumerate(frames):
        for v in frame["vehicles"]:
            x1, y1, x2, y2 = v["xyxy"]
            entry = seen.setdefault(
                v["identity"], {"first": index, "last": index, "size": 0.0, "cross": None}
            )
            entry["last"] = index
            entry["size"] = max(entry["size"], x2 - x1, y2 - y1)
            if entry["cross"] is None and y2 >= 110 and index > entry["first"]:
                entry["cross"] = index / fps
    vehicles = [
        _vehicle(f"v{i}", e["first"] / fps, e["last"] / fps, e["cross"], "near" if e["size"] >= 60 else "far")
        for i, e in seen.items()
    ]
    path = world / f"{camera}.labels.json"
    path.write_text(json.dumps({"vehicles": vehicles, "static": []}))
    return path


def _eval_video(clip: Path, labels: Path, *more: str) -> int:
    return main(["eval", "video", "--data", str(clip), "--labels", str(labels), *more])


def test_eval_video_end_to_end_on_a_synthetic_clip(
    tiny_scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = rendered_world(tiny_scenario, tmp_path / "world")
    labels = _labels_from_truth(world, "gate", 5.0)
    clip = world / "videos" / "gate.mp4"
    assert _eval_video(clip, labels, "--out", str(tmp_path / "ev"), "--json") == 0
    result = last_json(capsys.readouterr().out)
    assert 0 <= result["passes_found"] <= result["passes_truth"]
    parts = ("passes_found", "duplicate_sightings", "neutral_sightings", "false_sightings")
    assert sum(result[k] for k in parts) == result["sightings"]
    assert result["frames"] == 40
    assert Path(result["contact_sheet"]).is_file()
    assert {"events_per_pass", "fps", "missed"} <= result.keys()


def test_eval_video_answers_bad_labels_and_a_missing_clip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "l.json"
    labels.write_text("[]")
    assert _eval_video(tmp_path / "none.mp4", labels) == 2
    assert "none.mp4: no such clip" in capsys.readouterr().err
    clip = tmp_path / "one.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (64, 48))
    writer.write(np.zeros((48, 64, 3), np.uint8))  # a clip of one frame
    writer.release()
    assert _eval_video(clip, labels) == 2
    assert "l.json: vehicles: missing" in capsys.readouterr().err
    labels.write_text(json.dumps({"vehicles": [_vehicle("v1", 5.0, 6.0, None)]}))
    assert _eval_video(clip, labels, "--out", str(tmp_path / "o"), "--json") == 0
    captured = capsys.readouterr()
    assert "v1 enters after the clip ends" in captured.err
    result = last_json(captured.out)
    assert result["passes_truth"] == 0
    assert result["labels_beyond_end"] == ["v1"]
    assert result["frames"] == 1


@pytest.mark.skipif(
    not REAL.is_dir(), reason="../shared/data/real-traffic is absent (evaluation data, not shipped)"
)
def test_the_real_clips_labels_load_with_27_passes() -> None:
    labels = load_labels(REAL / "andrewssobral-video03.labels.json", 1700 / 60)
    assert len(labels.passes) == 27
    assert labels.beyond_end == ()
