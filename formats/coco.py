"""COCO detection annotations (one JSON file: images, annotations, categories)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from formats._common import read_text
from formats.types import DatasetError, DetectionSample


def write_coco(
    path: Path, samples: Sequence[DetectionSample], class_names: Sequence[str], *, images_root: Path
) -> None:
    """Write a COCO annotation file.

    Image, annotation and category ids are 1-based in sample and box order; category ``i + 1``
    is ``class_names[i]``. ``file_name`` is the image path relative to ``images_root``;
    ``bbox`` is ``[x, y, w, h]`` in pixels; ``iscrowd`` is 0 for boxes and 1 for the sample's
    ignore regions (COCO's evaluation counts a detection on a crowd region neither right nor
    wrong, the meaning of :attr:`DetectionSample.ignore_xyxy`).

    Args:
        path: The JSON file to write (its folder is created).
        samples: Images and boxes.
        class_names: Class names; index ``i`` is class id ``i``.
        images_root: Folder that ``file_name`` is relative to.

    Raises:
        ValueError: Empty or repeated class names.
        DatasetError: An image is not under ``images_root`` or listed twice, or a class id
            has no name.
    """
    if not class_names or len(set(class_names)) != len(class_names):
        raise ValueError(f"class names must be a non-empty list without repeats, got {list(class_names)!r}")
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    seen: set[str] = set()
    for image_id, sample in enumerate(samples, start=1):
        try:
            file_name = sample.image_path.relative_to(images_root).as_posix()
        except ValueError:
            raise DatasetError(sample.image_path, f"image is not under images_root {images_root}") from None
        if file_name in seen:
            raise DatasetError(sample.image_path, "image listed twice")
        seen.add(file_name)
        images.append(
            {"id": image_id, "file_name": file_name, "width": sample.width, "height": sample.height}
        )
        objects = [
            (box, cls, 0) for box, cls in zip(sample.xyxy.tolist(), sample.class_id.tolist(), strict=True)
        ]
        objects += [
            (box, cls, 1)
            for box, cls in zip(sample.ignore_xyxy.tolist(), sample.ignore_class_id.tolist(), strict=True)
        ]
        for box, cls, crowd in objects:
            if cls >= len(class_names):
                raise DatasetError(
                    sample.image_path, f"class id {cls} has no name ({len(class_names)} classes)"
                )
            x, y, w, h = box[0], box[1], box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cls + 1,
                    "bbox": [round(v, 4) for v in (x, y, w, h)],
                    "area": round(w * h, 4),
                    "iscrowd": crowd,
                }
            )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(class_names)]
    document = {"images": images, "annotations": annotations, "categories": categories}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read_coco(path: Path, images_root: Path | None = None) -> tuple[list[DetectionSample], list[str]]:
    """Read a COCO annotation file.

    Category ids may be arbitrary: class index ``i`` is the ``i``-th category in increasing id
    order, and the names are returned in that order. Crowd annotations (``iscrowd: 1``) become
    the sample's ignore regions. Every image gets a sample, with no boxes when it has no
    annotations. Image files are not opened.

    Args:
        path: The JSON file.
        images_root: Folder that ``file_name`` is relative to; defaults to ``path.parent``.

    Returns:
        Samples in the file's image order, and class names.

    Raises:
        DatasetError: Not JSON, a required key is missing, an id repeats or points nowhere, or
            a bbox is malformed; the message names the image or annotation id.
    """
    root = path.parent if images_root is None else images_root
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(document, dict):
        raise DatasetError(path, f"top level must be an object, got {type(document).__name__}")
    categories = _entries(document, "categories", path)
    cat_names: dict[int, str] = {}
    for i, cat in enumerate(categories):
        cat_id = _field(cat, "id", int, path, f"categories[{i}]")
        if cat_id in cat_names:
            raise DatasetError(path, f"category id {cat_id} is given twice")
        cat_names[cat_id] = _field(cat, "name", str, path, f"category id {cat_id}")
    class_of = {cat_id: index for index, cat_id in enumerate(sorted(cat_names))}
    images: dict[int, dict[str, Any]] = {}
    for i, image in enumerate(_entries(document, "images", path)):
        image_id = _field(image, "id", int, path, f"images[{i}]")
        if image_id in images:
            raise DatasetError(path, f"image id {image_id} is given twice")
        entry = f"image id {image_id}"
        images[image_id] = {
            "file_name": _field(image, "file_name", str, path, entry),
            "width": _field(image, "width", int, path, entry),
            "height": _field(image, "height", int, path, entry),
            "boxes": [],
            "classes": [],
            "ignore": [],
            "ignore_classes": [],
        }
    annotations = _entries(document, "annotations", path) if "annotations" in document else []
    for i, ann in enumerate(annotations):
        entry = f"annotation id {_field(ann, 'id', int, path, f'annotations[{i}]')}"
        crowd = ann.get("iscrowd", 0) == 1
        image_id = _field(ann, "image_id", int, path, entry)
        cat_id = _field(ann, "category_id", int, path, entry)
        if image_id not in images:
            raise DatasetError(path, f"{entry}: image_id {image_id} is not among the images")
        if cat_id not in class_of:
            raise DatasetError(path, f"{entry}: category_id {cat_id} is not among the categories")
        x, y, w, h = _bbox(ann, path, entry)
        boxes, classes = ("ignore", "ignore_classes") if crowd else ("boxes", "classes")
        images[image_id][boxes].append((x, y, x + w, y + h))
        images[image_id][classes].append(class_of[cat_id])
    samples = []
    for image_id, image in images.items():
        try:
            samples.append(
                DetectionSample(
                    image_path=root / image["file_name"],
                    width=image["width"],
                    height=image["height"],
                    xyxy=np.array(image["boxes"], np.float32).reshape(-1, 4),
                    class_id=np.array(image["classes"], np.int32),
                    ignore_xyxy=np.array(image["ignore"], np.float32).reshape(-1, 4),
                    ignore_class_id=np.array(image["ignore_classes"], np.int32),
                )
            )
        except ValueError as exc:
            raise DatasetError(path, f"image id {image_id}: {exc}") from None
    return samples, [cat_names[cat_id] for cat_id in sorted(cat_names)]


def _entries(document: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    value = document.get(key)
    if not isinstance(value, list):
        problem = "missing" if value is None else f"must be a list, got {type(value).__name__}"
        raise DatasetError(path, f"'{key}' {problem}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise DatasetError(path, f"{key}[{i}] must be an object, got {type(item).__name__}")
    return value


def _field(entry: Mapping[str, Any], key: str, kind: type[Any], path: Path, where: str) -> Any:
    if key not in entry:
        raise DatasetError(path, f"{where}: missing '{key}'")
    value = entry[key]
    # bool is an int subclass in Python; a JSON true is never a valid id or size.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DatasetError(path, f"{where}: '{key}' must be {kind.__name__}, got {value!r}")
    return value


def _bbox(ann: Mapping[str, Any], path: Path, entry: str) -> tuple[float, float, float, float]:
    if "bbox" not in ann:
        raise DatasetError(path, f"{entry}: missing 'bbox'")
    bbox = ann["bbox"]
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        or not all(math.isfinite(v) for v in bbox)
    ):
        raise DatasetError(path, f"{entry}: bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise DatasetError(path, f"{entry}: bbox width and height must be >= 0, got {bbox!r}")
    return x, y, w, h
