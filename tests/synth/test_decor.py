"""Decor: lettering, badges, stickers, signs and a camera's burnt-in text, never labelled as
plates, the same on a vehicle at every camera, and nothing else of the world changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.decor import Osd, dress_vehicle, osd_text, plate_groups, plate_look, text_fit
from synth.plates import PlateStyle
from synth.render import CameraRenderer
from synth.scenario import load_scenario
from synth.world import simulate


def _renderer(path: Path, camera: str, decor: bool) -> CameraRenderer:
    spec = load_scenario(path).model_copy(update={"decor": decor})
    return CameraRenderer(simulate(spec, 0), camera)


def test_decor_is_off_by_default(tiny_scenario: Path) -> None:
    assert load_scenario(tiny_scenario).decor is False


def test_decor_changes_the_pictures_and_not_the_truth(tiny_scenario: Path) -> None:
    plain, dressed = _renderer(tiny_scenario, "exit", False), _renderer(tiny_scenario, "exit", True)
    changed = 0
    for index in range(0, plain.frame_count, 5):
        a, truth_a = plain.render(index)
        b, truth_b = dressed.render(index)
        assert truth_a == truth_b  # same vehicles, boxes and plates: decor is never a plate
        changed += not np.array_equal(a, b)
    assert changed > 0


def test_a_vehicle_carries_the_same_lettering_at_every_camera() -> None:
    first = np.zeros((200, 300, 4), np.uint8)
    second = np.zeros((200, 300, 4), np.uint8)
    for image in (first, second):
        dress_vehicle(image, (10, 10, 290, 190), "rear", "car", 42, (200, 30, 30))
    assert np.array_equal(first, second)
    assert first[..., 3].any()
    other = np.zeros((200, 300, 4), np.uint8)
    dress_vehicle(other, (10, 10, 290, 190), "rear", "car", 43, (200, 30, 30))
    assert not np.array_equal(first, other)


def test_text_is_drawn_inside_its_box() -> None:
    image = np.zeros((60, 200, 3), np.uint8)
    x0, y0, x1, y1 = text_fit(image, "AB12", (100, 30), 20, (255, 255, 255), alpha=False)
    assert 18 <= y1 - y0 <= 24
    ink = np.argwhere(image[..., 0] > 0)
    assert ink[:, 1].min() >= x0 - 3
    assert ink[:, 1].max() <= x1 + 3


def test_the_burnt_in_clock_runs_with_the_frames() -> None:
    assert osd_text("gate", 0.0, 3600.0) == ("2026-11-01 01:00:00", "CAM GATE")
    assert osd_text("gate", 61.5, 3600.0)[0] == "2026-11-01 01:01:01"
    on = next(Osd("cam", k, 0, (320, 240)) for k in range(50) if Osd("cam", k, 0, (320, 240)).on)
    frame = np.zeros((240, 320, 3), np.uint8)
    on.draw(frame, 0.0)
    assert (frame > 200).any()


def test_synth_decor_flag_records_it_in_the_world(tiny_scenario: Path, tmp_path: Path) -> None:
    import json

    from roadwatch.cli import main

    out = tmp_path / "w"
    assert (
        main(
            ["synth", "--scenario", str(tiny_scenario), "--out", str(out), "--parts", "detection", "--decor"]
        )
        == 0
    )
    assert json.loads((out / "world.json").read_text())["scenario"]["decor"] is True


def test_plates_are_printed_in_their_groups() -> None:
    assert plate_groups("eu", "AB123CD") == ["AB", "123", "CD"]
    assert plate_groups("us", "ABC1234") == ["ABC", "1234"]
    assert plate_groups("us", "1ABC234") == ["1ABC", "234"]
    assert plate_groups("cn", "京A12345") == ["京A", "12345"]


def test_most_plates_take_the_readers_look_and_keep_it_at_every_camera() -> None:
    style = PlateStyle("eu", False, (245, 245, 245), (20, 20, 20), "F")
    looks = [plate_look("AB123CD", style, 3, identity) for identity in range(40)]
    drawn = [look for look in looks if look is not None]
    assert 12 <= len(drawn) <= 36  # about 60 %
    assert len({look.tobytes() for look in drawn}) == len(drawn)  # each its own font and colours
    again = plate_look("AB123CD", style, 3, next(i for i, look in enumerate(looks) if look is not None))
    assert again is not None
    assert np.array_equal(again, drawn[0])
    height, width = drawn[0].shape[:2]
    assert 4.0 < width / height < 5.5  # an EU plate's proportions
