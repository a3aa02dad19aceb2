"""Write a simulated world to disk: videos, ground truth and training sets in standard formats.

Layout under the output folder::

    world.json                    fleet, passes, sightings, escapes, identity splits, seed
    videos/<camera>.mp4           every camera's footage (MPEG-4 Part 2)
    truth/<camera>.json           per-frame ground truth (see synth.truth)
    detection/                    YOLO (images/, labels/, data.yaml, ignore/) + coco_<split>.json
    reid/                         VeRi-776 style crops + name lists + plates_<split>.csv
    plates/<split>/*.jpg          plate crops, labels.csv (text, format, corners)

Identities are split train/val/test by the time they are first seen, so held-out
identities never appear in training data; detection frames holding identities of two
splits are left out of the detection set.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from formats import DetectionSample, PlateSample, write_coco, write_plate_csv, write_yolo
from formats.veri import veri_name, write_plate_sidecar, write_veri_lists
from synth.fleet import VEHICLE_TYPES
from synth.preview import write_contact_sheet
from synth.render import CameraRenderer
from synth.truth import FrameTruth, VehicleTruth
from synth.world import World

DETECTION_CLASSES: tuple[str, ...] = (*VEHICLE_TYPES, "plate")
PLATE_CLASS = len(VEHICLE_TYPES)
MIN_DETECT_VISIBILITY = 0.25
# plates lower than this (mean edge height) are left unlabelled: regions to ignore
MIN_LABELLED_PLATE_PX = 4.0
MIN_REID_VISIBILITY = 0.8
MIN_REID_HEIGHT_PX = 56
MIN_PLATE_CROP_PX = 12
REID_CROPS_PER_PASS = 4
PLATE_CROPS_PER_PASS = 3
_GAP_FRAMES = 3
_NEW_PASS_FRAMES = 100
_SAMPLE_CROPS = 24

Image = npt.NDArray[np.uint8]
Part = Literal["videos", "detection", "reid", "plates"]
ALL_PARTS: frozenset[Part] = frozenset(("videos", "detection", "reid", "plates"))


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """Counts of a world export (the ``--json`` keys of ``roadwatch synth``)."""

    frames: int
    vehicles: int
    sightings: int
    escapes: int
    seconds: float
    detection_images: int
    reid_crops: int
    plate_crops: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "frames": self.frames,
            "vehicles": self.vehicles,
            "sightings": self.sightings,
            "escapes": self.escapes,
            "seconds": round(self.seconds, 2),
            "detection_images": self.detection_images,
            "reid_crops": self.reid_crops,
            "plate_crops": self.plate_crops,
        }


@dataclass
class _Collected:
    """What the export gathers while it renders (one object per export)."""

    detection: dict[str, list[DetectionSample]] = field(default_factory=lambda: defaultdict(list))
    reid_names: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    reid_plates: dict[str, list[tuple[str, PlateSample]]] = field(default_factory=lambda: defaultdict(list))
    plates: list[tuple[PlateSample, str]] = field(default_factory=list)
    # keyed by (what: "reid" or "plate", camera, identity)
    counts: dict[tuple[str, str, int], int] = field(default_factory=lambda: defaultdict(int))
    last: dict[tuple[str, str, int], int] = field(default_factory=dict)
    passes: dict[tuple[str, str, int], int] = field(default_factory=lambda: defaultdict(int))
    # held-out crops per pass (camera, identity, pass number): (quality, file name)
    test_passes: dict[tuple[str, int, int], list[tuple[tuple[float, float], str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    previews: dict[str, list[tuple[int, Image, FrameTruth]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    sample_crops: list[Image] = field(default_factory=list)
    sample_plates: list[tuple[Image, str]] = field(default_factory=list)


def export_world(
    world: World,
    out: Path,
    *,
    detection_every: int = 5,
    preview: Path | None = None,
    parts: frozenset[Part] = ALL_PARTS,
    on_frame: Callable[[], None] | None = None,
) -> ExportSummary:
    """Render every camera of ``world`` and write all outputs under ``out``.

    Args:
        world: The simulated world.
        out: Output folder (created; existing files of the same names are replaced).
        detection_every: Keep every n-th frame for the detection set.
        preview: Where to write a contact sheet PNG (frames with their truth, crops); None: none.
        parts: Which outputs besides truth and world.json: videos, detection, reid, plates.
        on_frame: Called after each rendered frame (progress bars).

    Returns:
        Counts and timing.
    """
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    got = _Collected()
    frames = 0
    for camera in world.spec.cameras:
        frames += _export_camera(world, camera.id, out, got, detection_every, parts, on_frame)
    _write_sets(world, out, got)
    seen = {s.identity for s in world.sightings}
    _write_world(world, out)
    if preview is not None:
        write_contact_sheet(preview, got.previews, got.sample_crops, got.sample_plates)
    return ExportSummary(
        frames=frames,
        vehicles=len(seen),
        sightings=len(world.sightings),
        escapes=len(world.escapes),
        seconds=time.monotonic() - started,
        detection_images=sum(len(v) for v in got.detection.values()),
        reid_crops=sum(len(v) for v in got.reid_names.values()),
        plate_crops=len(got.plates),
    )


def _export_camera(
    world: World,
    camera_id: str,
    out: Path,
    got: _Collected,
    every: int,
    parts: frozenset[Part],
    on_frame: Callable[[], None] | None,
) -> int:
    renderer = CameraRenderer(world, camera_id)
    spec = renderer.spec
    (out / "truth").mkdir(exist_ok=True)
    writer = None
    if "videos" in parts:
        (out / "videos").mkdir(exist_ok=True)
        video = out / "videos" / f"{camera_id}.mp4"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), world.spec.fps, spec.resolution)
        if not writer.isOpened():
            raise OSError(f"{video}: cannot write video (mp4v encoder unavailable)")
    rng = np.random.default_rng([world.seed, 31337, renderer.camera_index])
    truths = []
    windows = 3
    try:
        for index in range(renderer.frame_count):
            image, truth = renderer.render(index)
            if writer is not None:
                writer.write(image)
            truths.append(truth.to_dict())
            if "detection" in parts and index % every == 0:
                _detection_sample(world, out, got, image, truth, renderer.frame_count, rng)
            _reid_crops(world, out, got, image, truth, renderer.camera_index, parts)
            window = min(windows - 1, index * windows // max(1, renderer.frame_count))
            _keep_preview(got.previews[camera_id], window, image, truth)
            if on_frame is not None:
                on_frame()
    finally:
        if writer is not None:
            writer.release()
    document = {"camera": spec.model_dump(mode="json"), "fps": world.spec.fps, "frames": truths}
    (out / "truth" / f"{camera_id}.json").write_text(json.dumps(document, separators=(",", ":")))
    return renderer.frame_count


def _keep_preview(
    kept: list[tuple[int, Image, FrameTruth]], window: int, image: Image, truth: FrameTruth
) -> None:
    """Keep the busiest frame of each third of the footage for the contact sheet."""
    busy = len(truth.vehicles)
    for i, (w, _, t) in enumerate(kept):
        if w == window:
            if busy > len(t.vehicles):
                kept[i] = (window, image.copy(), truth)
            return
    kept.append((window, image.copy(), truth))


def _frame_split(world: World, vehicles: list[VehicleTruth], index: int, total: int) -> str | None:
    splits = {world.splits[v.identity] for v in vehicles}
    if len(splits) > 1:
        return None
    if splits:
        return splits.pop()
    position = index / max(1, total)
    return "train" if position < 0.7 else "val" if position < 0.8 else "test"


def _detection_sample(
    world: World,
    out: Path,
    got: _Collected,
    image: Image,
    truth: FrameTruth,
    total: int,
    rng: np.random.Generator,
) -> None:
    vehicles = [v for v in truth.vehicles if v.visibility >= MIN_DETECT_VISIBILITY]
    split = _frame_split(world, vehicles, truth.index, total)
    if split is None:
        return
    boxes: list[tuple[float, float, float, float]] = []
    classes: list[int] = []
    ignore: list[tuple[float, float, float, float]] = []  # in the frame, but not labelled
    ignore_classes: list[int] = []
    for v in truth.vehicles:
        labelled = v.visibility >= MIN_DETECT_VISIBILITY
        chosen, chosen_classes = (boxes, classes) if labelled else (ignore, ignore_classes)
        chosen.append(v.xyxy)
        chosen_classes.append(VEHICLE_TYPES.index(v.type))
        if v.plate_xyxy is None:
            continue
        plate_ok = labelled and v.plate_visible and v.plate_height_px >= MIN_LABELLED_PLATE_PX
        chosen, chosen_classes = (boxes, classes) if plate_ok else (ignore, ignore_classes)
        chosen.append(v.plate_xyxy)
        chosen_classes.append(PLATE_CLASS)
    folder = out / "detection" / "images" / split
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{truth.camera}_{truth.index:06d}.jpg"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))])
    h, w = image.shape[:2]
    got.detection[split].append(
        DetectionSample(
            path,
            w,
            h,
            np.array(boxes, np.float32).reshape(-1, 4),
            np.array(classes, np.int32),
            np.array(ignore, np.float32).reshape(-1, 4),
            np.array(ignore_classes, np.int32),
        )
    )


def _crop_box(
    box: tuple[float, float, float, float], margin: float, w: int, h: int
) -> tuple[int, int, int, int]:
    mx, my = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    return (
        max(0, int(box[0] - mx)),
        max(0, int(box[1] - my)),
        min(w, int(np.ceil(box[2] + mx))),
        min(h, int(np.ceil(box[3] + my))),
    )


def _reid_crops(
    world: World,
    out: Path,
    got: _Collected,
    image: Image,
    truth: FrameTruth,
    camera_index: int,
    parts: frozenset[Part],
) -> None:
    h, w = image.shape[:2]
    for v in truth.vehicles:
        split = world.splits[v.identity]
        key = ("reid", truth.camera, v.identity)
        if truth.index - got.last.get(key, -10_000) > _NEW_PASS_FRAMES:
            got.counts[key] = 0  # the same vehicle back at this camera: a new pass
            got.passes[key] += 1
        tall = v.xyxy[3] - v.xyxy[1] >= MIN_REID_HEIGHT_PX
        if "reid" in parts and v.visibility >= MIN_REID_VISIBILITY and tall:
            lines = 2 if world.identity(v.identity).plate_style.double_line else 1
            _reid_crop(out, got, image, truth, v, split, key, camera_index, w, h, lines)
        plate_ok = v.plate_readable and v.plate_height_px >= MIN_PLATE_CROP_PX
        if "plates" in parts and plate_ok and v.plate_xyxy and v.plate_corners:
            pkey = ("plate", truth.camera, v.identity)
            if (
                got.counts[pkey] < PLATE_CROPS_PER_PASS
                and truth.index - got.last.get(pkey, -99) >= _GAP_FRAMES
            ):
                got.counts[pkey] += 1
                got.last[pkey] = truth.index
                x0, y0, x1, y1 = _crop_box(v.plate_xyxy, 0.15, w, h)
                folder = out / "plates" / split
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{truth.camera}_{truth.index:06d}_{v.identity:04d}.jpg"
                cv2.imwrite(str(path), image[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 92])
                corners = np.array(v.plate_corners, np.float32) - np.array([x0, y0], np.float32)
                box = (v.plate_xyxy[0] - x0, v.plate_xyxy[1] - y0, v.plate_xyxy[2] - x0, v.plate_xyxy[3] - y0)
                got.plates.append(
                    (PlateSample(path, v.plate_text or "", box, corners, v.plate_family), split)
                )
                if len(got.sample_plates) < _SAMPLE_CROPS:
                    got.sample_plates.append((image[y0:y1, x0:x1].copy(), v.plate_text or ""))


def _reid_crop(
    out: Path,
    got: _Collected,
    image: Image,
    truth: FrameTruth,
    v: VehicleTruth,
    split: str,
    key: tuple[str, str, int],
    camera_index: int,
    w: int,
    h: int,
    lines: int,
) -> None:
    if got.counts[key] >= REID_CROPS_PER_PASS or truth.index - got.last.get(key, -99) < _GAP_FRAMES:
        return
    k = got.counts[key]
    got.counts[key] += 1
    got.last[key] = truth.index
    folder_split = split
    x0, y0, x1, y1 = _crop_box(v.xyxy, 0.05, w, h)
    name = veri_name(v.identity, camera_index + 1, truth.index, k)
    if split == "test":  # the pass's best crop becomes its query once the pass is over
        readable = v.plate_readable and v.plate_corners is not None
        quality = (v.plate_height_px if readable else 0.0, v.xyxy[3] - v.xyxy[1])
        got.test_passes[(truth.camera, v.identity, got.passes[key])].append((quality, name))
    folder = out / "reid" / f"image_{folder_split}"
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / name), image[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    got.reid_names[folder_split].append(name)
    if len(got.sample_crops) < _SAMPLE_CROPS and k == 0:
        got.sample_crops.append(image[y0:y1, x0:x1].copy())
    if v.plate_corners is not None and v.plate_xyxy is not None and v.plate_readable:
        corners = np.array(v.plate_corners, np.float32) - np.array([x0, y0], np.float32)
        box = (v.plate_xyxy[0] - x0, v.plate_xyxy[1] - y0, v.plate_xyxy[2] - x0, v.plate_xyxy[3] - y0)
        plate = PlateSample(folder / name, v.plate_text or "", box, corners, v.plate_family, lines)
        got.reid_plates[folder_split].append((name, plate))


def _write_sets(world: World, out: Path, got: _Collected) -> None:
    detection = out / "detection"
    for split, samples in sorted(got.detection.items()):
        write_yolo(detection, samples, DETECTION_CLASSES, split=split)
        write_coco(detection / f"coco_{split}.json", samples, DETECTION_CLASSES, images_root=detection)
    reid = out / "reid"
    reid.mkdir(parents=True, exist_ok=True)
    _pick_queries(reid, got)
    write_veri_lists(reid, {split: sorted(names) for split, names in got.reid_names.items()})
    for split, rows in got.reid_plates.items():
        write_plate_sidecar(reid / f"plates_{split}.csv", rows)
    (out / "plates").mkdir(exist_ok=True)
    write_plate_csv(out / "plates" / "labels.csv", got.plates)


def best_of_passes(passes: dict[tuple[str, int, int], list[tuple[tuple[float, float], str]]]) -> set[str]:
    """The best crop of each pass: the tallest readable plate (height, else 0), then the tallest vehicle."""
    return {max(crops)[1] for crops in passes.values() if crops}


def _pick_queries(reid: Path, got: _Collected) -> None:
    """Move each held-out pass's best crop (tallest readable plate, else tallest vehicle) to the queries.

    A tracker queries the gallery with the best snapshot of a track, not its first frame,
    which usually shows the vehicle far away with an unreadable plate.
    """
    if not got.test_passes:
        return
    (reid / "image_query").mkdir(parents=True, exist_ok=True)
    chosen = best_of_passes(got.test_passes)
    got.reid_names["test"] = [n for n in got.reid_names["test"] if n not in chosen]
    got.reid_names["query"] = sorted(chosen)
    for name in sorted(chosen):
        (reid / "image_test" / name).replace(reid / "image_query" / name)
    rows = got.reid_plates.pop("test", [])
    moved = reid / "image_query"
    got.reid_plates["query"] = [
        (name, replace(plate, image_path=moved / name)) for name, plate in rows if name in chosen
    ]
    got.reid_plates["test"] = [(name, plate) for name, plate in rows if name not in chosen]


def _write_world(world: World, out: Path) -> None:
    document = {
        "scenario": world.spec.model_dump(mode="json"),
        "seed": world.seed,
        "fleet": [
            {
                "id": i.id,
                "type": i.type,
                "colour": i.colour,
                "second_colour": i.second_colour,
                "plate_text": i.plate_text,
                "plate_family": i.plate_style.family,
                "plate_double_line": i.plate_style.double_line,
                "plate_state": i.plate_state,
                "clone_of": i.clone_of,
                "lookalike_of": i.lookalike_of,
                "split": world.splits.get(i.id),
            }
            for i in world.fleet
        ],
        "sightings": [
            {"identity": s.identity, "camera": s.camera, "time": round(s.time, 3), "trip": s.trip}
            for s in world.sightings
        ],
        "escapes": [
            {"identity": e.identity, "entry_camera": e.entry_camera, "time": round(e.time, 3), "trip": e.trip}
            for e in world.escapes
        ],
    }
    (out / "world.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
