"""Export: all formats written, read back by the readers, deterministic bytes, no leak of held-out ids."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from formats import parse_veri_name, read_coco, read_plate_csv, read_veri, read_yolo
from synth.export import DETECTION_CLASSES, MIN_DETECT_VISIBILITY, best_of_passes, export_world
from synth.plates import is_legal
from synth.scenario import load_scenario
from synth.world import simulate


@pytest.fixture(scope="module")
def exported(tiny_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("export")
    world = simulate(load_scenario(tiny_scenario), 0)
    summary = export_world(world, out, detection_every=2, preview=out / "preview.png")
    return out, summary.to_dict()


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_counts(exported: tuple[Path, dict[str, object]]) -> None:
    out, summary = exported
    assert summary["frames"] == 3 * 40
    for camera in ("entry", "gate", "exit"):
        assert (out / "videos" / f"{camera}.mp4").stat().st_size > 0
        truth = json.loads((out / "truth" / f"{camera}.json").read_text())
        assert len(truth["frames"]) == 40
    world = json.loads((out / "world.json").read_text(encoding="utf-8"))
    assert len(world["sightings"]) == summary["sightings"]
    assert len(world["escapes"]) == summary["escapes"]
    assert (out / "preview.png").stat().st_size > 0


def test_detection_sets_read_back(exported: tuple[Path, dict[str, object]]) -> None:
    out, summary = exported
    yolo, names = read_yolo(out / "detection")
    assert names == list(DETECTION_CLASSES)
    assert len(yolo) == summary["detection_images"]
    total = 0
    for split in ("train", "val", "test"):
        coco_file = out / "detection" / f"coco_{split}.json"
        if coco_file.exists():
            coco, coco_names = read_coco(coco_file)
            assert coco_names == list(DETECTION_CLASSES)
            total += len(coco)
    assert total == len(yolo)
    boxes = sum(len(s.xyxy) for s in yolo)
    plates = sum(int((s.class_id == DETECTION_CLASSES.index("plate")).sum()) for s in yolo)
    assert boxes > plates > 0


def test_every_vehicle_and_plate_in_a_frame_is_labelled_or_ignored(
    exported: tuple[Path, dict[str, object]],
) -> None:
    out, _ = exported
    truth = {}
    for path in (out / "truth").glob("*.json"):
        for frame in json.loads(path.read_text())["frames"]:
            truth[(frame["camera"], frame["index"])] = frame["vehicles"]
    plate = DETECTION_CLASSES.index("plate")
    samples, _ = read_yolo(out / "detection")
    ignored = {"vehicle": 0, "plate": 0}
    for s in samples:
        camera, index = s.image_path.stem.rsplit("_", 1)
        vehicles = truth[(camera, int(index))]
        labelled = [v for v in vehicles if v["visibility"] >= MIN_DETECT_VISIBILITY]
        assert int((s.class_id != plate).sum()) == len(labelled)
        assert int((s.ignore_class_id != plate).sum()) == len(vehicles) - len(labelled)
        drawn = [v for v in vehicles if v["plate_xyxy"] is not None]
        assert int((s.class_id == plate).sum()) + int((s.ignore_class_id == plate).sum()) == len(drawn)
        for box in s.xyxy[s.class_id == plate]:  # a labelled plate is at least 3 px high
            assert box[3] - box[1] >= 3
        ignored["vehicle"] += int((s.ignore_class_id != plate).sum())
        ignored["plate"] += int((s.ignore_class_id == plate).sum())
    assert ignored["vehicle"] > 0
    assert ignored["plate"] > 0


def test_reid_set_reads_back_and_keeps_held_out_identities_apart(
    exported: tuple[Path, dict[str, object]],
) -> None:
    out, summary = exported
    sets = read_veri(out / "reid")
    assert sum(len(v) for v in sets.values()) == summary["reid_crops"]
    ids = {split: {s.identity for s in samples} for split, samples in sets.items()}
    assert ids["train"]
    assert ids["query"]
    assert not ids["train"] & (ids["query"] | ids["test"])
    assert not ids["val"] & (ids["train"] | ids["query"] | ids["test"])
    assert ids["query"] >= ids["test"] - ids["query"] or not ids["test"]
    with_plates = [s for samples in sets.values() for s in samples if s.plate is not None]
    assert with_plates
    for sample in with_plates:
        assert sample.plate is not None
        assert sample.plate.xyxy is not None
        assert is_legal(sample.plate.plate_format, sample.plate.text)  # type: ignore[arg-type]
    fleet = json.loads((out / "world.json").read_text(encoding="utf-8"))["fleet"]
    double = {v["id"]: v["plate_double_line"] for v in fleet}
    assert {s.plate.lines for s in with_plates} <= {1, 2}  # type: ignore[union-attr]
    assert all(s.plate.lines == (2 if double[s.identity] else 1) for s in with_plates)  # type: ignore[union-attr]
    for sample in sets["train"]:
        assert parse_veri_name(sample.image_path.name)[0] == sample.identity


def test_each_held_out_pass_queries_with_its_best_crop() -> None:
    passes = {
        # far first (no readable plate), then the plate grows: the tallest plate wins
        ("gate", 7, 1): [((0.0, 40.0), "first"), ((14.0, 90.0), "mid"), ((22.0, 80.0), "near")],
        # no readable plate anywhere: the tallest vehicle wins
        ("gate", 8, 1): [((0.0, 50.0), "small"), ((0.0, 120.0), "large")],
        ("exit", 7, 2): [((11.0, 60.0), "only")],
        ("exit", 9, 1): [],
    }
    assert best_of_passes(passes) == {"near", "large", "only"}


def test_queries_are_moved_out_of_the_gallery(exported: tuple[Path, dict[str, object]]) -> None:
    out, _ = exported
    sets = read_veri(out / "reid")
    assert sets["query"]
    query_names = {s.image_path.name for s in sets["query"]}
    assert not query_names & {s.image_path.name for s in sets["test"]}
    for sample in sets["query"]:
        assert sample.image_path.parent.name == "image_query"
        assert sample.image_path.is_file()


def test_plate_crops_read_back_with_legal_text(exported: tuple[Path, dict[str, object]]) -> None:
    out, summary = exported
    rows = read_plate_csv(out / "plates" / "labels.csv")
    assert len(rows) == summary["plate_crops"] > 0
    for plate, split in rows:
        assert split in ("train", "val", "test")
        assert plate.image_path.is_file()
        assert is_legal(plate.plate_format, plate.text)  # type: ignore[arg-type]


def test_same_seed_gives_identical_bytes(
    tiny_scenario: Path, tmp_path: Path, exported: tuple[Path, dict[str, object]]
) -> None:
    out, _ = exported
    again = tmp_path / "again"
    export_world(
        simulate(load_scenario(tiny_scenario), 0), again, detection_every=2, preview=again / "preview.png"
    )
    assert _digest(again) == _digest(out)
