"""YOLO (ultralytics) detection datasets.

Layout::

    root/data.yaml                 train: images/train, ..., names: {0: car, ...}
    root/images/<split>/X.jpg      images (written by the caller)
    root/labels/<split>/X.txt      one line per box: ``class cx cy w h``, normalised to [0, 1]
    root/ignore/<split>/X.txt      optional, same lines: regions to ignore (objects in the image
                                   but not labelled: cut by the frame edge, hidden or too small);
                                   roadwatch's own addition, other tools skip the folder

The folder holding ``data.yaml`` is the dataset root; its ``path`` key is not followed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from formats._common import image_size, list_images, parse_number, read_text
from formats.types import DatasetError, DetectionSample

SPLITS = ("train", "val", "test")
# Normalised values may stray this far outside [0, 1] (rounding in other tools); they are clipped.
TOLERANCE = 1e-3


def write_yolo(
    root: Path, samples: Sequence[DetectionSample], class_names: Sequence[str], *, split: str
) -> None:
    """Write label files for one split and create or update ``root/data.yaml``.

    Images are not copied: each sample's image must already be at
    ``root/images/<split>/<image_path.name>``. Every sample gets a label file, empty when it
    has no boxes (a background image).

    ``data.yaml`` has no ``path`` key, so ultralytics finds the splits beside data.yaml
    whatever the current folder.

    Args:
        root: Dataset root.
        samples: The split's images and boxes.
        class_names: Class names; index ``i`` is class id ``i``.
        split: ``"train"``, ``"val"`` or ``"test"``.

    Raises:
        ValueError: Unknown split, or empty or repeated class names.
        DatasetError: An image is missing, two images share a stem, a class id has no name,
            a box lies outside its image, or an existing data.yaml names other classes.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    _check_names(class_names)
    images_dir, labels_dir = root / "images" / split, root / "labels" / split
    labels: dict[str, str] = {}
    ignored: dict[str, str] = {}
    for sample in samples:
        image = images_dir / sample.image_path.name
        if not image.is_file():
            raise DatasetError(image, "image not found; write images there before calling write_yolo")
        if image.stem in labels:
            raise DatasetError(image, f"another image in {images_dir} has the stem {image.stem!r}")
        labels[image.stem] = _label_text(sample.xyxy, sample.class_id, sample, image, len(class_names))
        if len(sample.ignore_xyxy):
            ignored[image.stem] = _label_text(
                sample.ignore_xyxy, sample.ignore_class_id, sample, image, len(class_names)
            )
    _update_data_yaml(root, class_names)
    labels_dir.mkdir(parents=True, exist_ok=True)
    for stem, text in labels.items():
        (labels_dir / f"{stem}.txt").write_text(text, encoding="utf-8")
    ignore_dir = _labels_dir(images_dir, "ignore")
    for stem in labels:
        if stem in ignored:
            ignore_dir.mkdir(parents=True, exist_ok=True)
            (ignore_dir / f"{stem}.txt").write_text(ignored[stem], encoding="utf-8")
        else:  # a rewrite must not keep an older export's regions
            (ignore_dir / f"{stem}.txt").unlink(missing_ok=True)


def read_yolo(root: Path, split: str | None = None) -> tuple[list[DetectionSample], list[str]]:
    """Read a YOLO dataset.

    Class names come from ``data.yaml`` (``names`` as a list or ``{index: name}``), else from
    ``classes.txt`` (one per line). Images are paired by stem with label files; a missing
    label file means no boxes. Ignore regions come from ``ignore/<split>/<stem>.txt`` where
    one exists.

    Args:
        root: Dataset root.
        split: One split, or None for every split data.yaml lists (or, without data.yaml,
            every ``images/<split>`` folder present).

    Returns:
        Samples (split order train, val, test; images sorted by name) and class names.

    Raises:
        DatasetError: No class names, a listed split folder is missing, an image cannot be
            decoded, or a label line is malformed (names file:line).
    """
    class_names, split_dirs = _read_layout(root)
    if split is not None:
        if split not in split_dirs and not (root / "images" / split).is_dir():
            raise DatasetError(root / "images" / split, f"split {split!r} not found")
        split_dirs = {split: split_dirs.get(split, root / "images" / split)}
    samples = []
    for images_dir in split_dirs.values():
        if not images_dir.is_dir():
            raise DatasetError(images_dir, "image folder not found")
        labels_dir, ignore_dir = _labels_dir(images_dir), _labels_dir(images_dir, "ignore")
        stems: dict[str, Path] = {}
        for image in list_images(images_dir):
            if image.stem in stems:
                raise DatasetError(
                    image, f"shares its stem with {stems[image.stem].name}; labels are ambiguous"
                )
            stems[image.stem] = image
            width, height = image_size(image)
            xyxy, class_id = _read_label(labels_dir / f"{image.stem}.txt", width, height, len(class_names))
            ignore, ignore_id = _read_label(ignore_dir / f"{image.stem}.txt", width, height, len(class_names))
            samples.append(DetectionSample(image, width, height, xyxy, class_id, ignore, ignore_id))
    return samples, class_names


def _check_names(class_names: Sequence[str]) -> None:
    if not class_names:
        raise ValueError("class_names must not be empty")
    if any(not isinstance(n, str) or not n for n in class_names):
        raise ValueError(f"class names must be non-empty strings, got {list(class_names)!r}")
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class names must be unique, got {list(class_names)!r}")


def _label_text(
    xyxy: npt.NDArray[np.float32],
    class_id: npt.NDArray[np.int32],
    sample: DetectionSample,
    image: Path,
    num_classes: int,
) -> str:
    lines = []
    size = np.array([sample.width, sample.height, sample.width, sample.height], dtype=np.float64)
    for i, (box, cls) in enumerate(zip(xyxy.astype(np.float64), class_id, strict=True)):
        if cls >= num_classes:
            raise DatasetError(image, f"box {i}: class id {cls} has no name ({num_classes} classes)")
        norm = box / size
        if norm.min() < -TOLERANCE or norm.max() > 1 + TOLERANCE:
            raise DatasetError(
                image,
                f"box {i} {box.tolist()} lies outside the {sample.width}x{sample.height} image; clip first",
            )
        x1, y1, x2, y2 = np.clip(norm, 0.0, 1.0)
        lines.append(f"{cls} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}\n")
    return "".join(lines)


def _update_data_yaml(root: Path, class_names: Sequence[str]) -> None:
    path = root / "data.yaml"
    data: dict[str, Any] = _load_yaml(path) if path.exists() else {}
    if "names" in data:
        existing = _parse_names(data["names"], path)
        if existing != list(class_names):
            raise DatasetError(
                path, f"names {existing} differ from the class names given {list(class_names)}"
            )
    # No ``path`` key: ultralytics then resolves the splits against data.yaml's own folder.
    out: dict[str, Any] = {"path": data["path"]} if "path" in data else {}
    for split in SPLITS:
        if (root / "images" / split).is_dir():
            out[split] = f"images/{split}"
        elif split in data:
            out[split] = data[split]
    out["names"] = dict(enumerate(class_names))
    out.update((k, v) for k, v in data.items() if k not in out and k != "nc")
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(out, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise DatasetError(path, f"not valid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise DatasetError(path, f"must be a mapping, got {type(data).__name__}")
    return data


def _parse_names(names: Any, path: Path) -> list[str]:
    if isinstance(names, list):
        result = [str(n) for n in names]
    elif isinstance(names, Mapping) and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise DatasetError(path, f"names keys must be 0..{len(names) - 1}, got {sorted(names)}")
        result = [str(names[i]) for i in range(len(names))]
    else:
        raise DatasetError(path, "names must be a list or a mapping {index: name}")
    if not result:
        raise DatasetError(path, "names is empty")
    return result


def _read_layout(root: Path) -> tuple[list[str], dict[str, Path]]:
    """Class names and ``{split: image folder}`` from data.yaml, else classes.txt + folders."""
    yaml_path, classes_path = root / "data.yaml", root / "classes.txt"
    if yaml_path.is_file():
        data = _load_yaml(yaml_path)
        if "names" not in data:
            raise DatasetError(yaml_path, "no 'names' key")
        names = _parse_names(data["names"], yaml_path)
        if "nc" in data and data["nc"] != len(names):
            raise DatasetError(yaml_path, f"nc is {data['nc']} but names has {len(names)} entries")
        dirs = {}
        for split in SPLITS:
            value = data.get(split)
            if value is None:
                continue
            if not isinstance(value, str) or value.endswith(".txt"):
                raise DatasetError(yaml_path, f"{split}: only a folder of images is supported, got {value!r}")
            dirs[split] = root / value
        return names, dirs
    if classes_path.is_file():
        names = [line.strip() for line in read_text(classes_path).splitlines() if line.strip()]
        if not names:
            raise DatasetError(classes_path, "no class names")
        return names, {s: root / "images" / s for s in SPLITS if (root / "images" / s).is_dir()}
    raise DatasetError(root, "no data.yaml or classes.txt")


def _labels_dir(images_dir: Path, kind: str = "labels") -> Path:
    """Ultralytics' rule: the last ``images`` part of the path becomes ``labels`` (or ``kind``)."""
    parts = list(images_dir.parts)
    if "images" not in parts:
        raise DatasetError(images_dir, "image folder path has no 'images' part to map to 'labels'")
    i = len(parts) - 1 - parts[::-1].index("images")
    parts[i] = kind
    return Path(*parts)


def _read_label(
    path: Path, width: int, height: int, num_classes: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """Pixel ``(N, 4)`` boxes and ``(N,)`` class ids of one label file (none when it is absent)."""
    if not path.exists():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int32)
    boxes, classes = [], []
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise DatasetError(path, f"expected 5 fields 'class cx cy w h', got {len(fields)}", line=n)
        try:
            cls = int(fields[0])
        except ValueError:
            raise DatasetError(path, f"class id is not a whole number: {fields[0]!r}", line=n) from None
        if not 0 <= cls < num_classes:
            raise DatasetError(path, f"class id {cls} out of range 0..{num_classes - 1}", line=n)
        cx, cy, w, h = (
            parse_number(f, name=k, source=path, line=n)
            for k, f in zip(("cx", "cy", "w", "h"), fields[1:], strict=True)
        )
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(cx, cy, w, h, x1, y1) < -TOLERANCE or max(cx, cy, w, h, x2, y2) > 1 + TOLERANCE:
            raise DatasetError(path, f"box {' '.join(fields[1:])} is outside [0, 1]", line=n)
        boxes.append(np.clip([x1, y1, x2, y2], 0.0, 1.0) * [width, height, width, height])
        classes.append(cls)
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    return xyxy, np.array(classes, np.int32)
