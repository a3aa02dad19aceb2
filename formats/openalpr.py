"""The OpenALPR benchmark layout: beside each ``NAME.jpg`` a ``NAME.txt`` with the plate.

Each line of ``NAME.txt`` is ``NAME.jpg x y w h PLATE`` (tabs or spaces), the box in pixels
with ``x, y`` its top-left corner. The benchmark has one line per file; several lines are
read as several plates of the same image. A line without ``PLATE`` gives the text ''.
"""

from __future__ import annotations

from pathlib import Path

from formats._common import list_images, parse_number, read_text
from formats.types import DatasetError, PlateSample


def read_openalpr(folder: Path, plate_format: str | None = None) -> list[PlateSample]:
    """Read every image of an OpenALPR benchmark folder with its plate annotations.

    Images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``) are taken in name order; each needs its
    ``.txt``. An empty folder gives ``[]``. Images are not opened.

    Args:
        folder: The folder of images and ``.txt`` files.
        plate_format: Stored in every sample, e.g. ``"eu"``.

    Returns:
        One sample per annotation line; ``corners`` is None.

    Raises:
        DatasetError: The folder is missing, an image has no ``.txt``, or a line is malformed
            (names the ``.txt`` file and line).
    """
    if not folder.is_dir():
        raise DatasetError(folder, "folder not found")
    samples: list[PlateSample] = []
    for image in list_images(folder):
        samples.extend(_image_samples(image, plate_format))
    return samples


def _image_samples(image: Path, plate_format: str | None) -> list[PlateSample]:
    """The plates of one image from the ``.txt`` beside it (DatasetError when faulty)."""
    label = image.with_suffix(".txt")
    if not label.is_file():
        raise DatasetError(image, f"no annotation file {label.name} beside the image")
    lines = [(n, line.split()) for n, line in enumerate(read_text(label).splitlines(), start=1)]
    lines = [(n, fields) for n, fields in lines if fields]
    if not lines:
        raise DatasetError(label, "empty annotation file; expected 'NAME.jpg x y w h PLATE'")
    return [_sample(image, label, n, fields, plate_format) for n, fields in lines]


def _sample(image: Path, label: Path, line: int, fields: list[str], plate_format: str | None) -> PlateSample:
    if len(fields) not in (5, 6):
        raise DatasetError(label, f"expected 'NAME.jpg x y w h PLATE', got {len(fields)} fields", line=line)
    if fields[0] != image.name:
        raise DatasetError(label, f"names image {fields[0]!r}, expected {image.name!r}", line=line)
    x, y, w, h = (
        parse_number(f, name=k, source=label, line=line) for k, f in zip("xywh", fields[1:5], strict=True)
    )
    if w < 0 or h < 0:
        raise DatasetError(label, f"box width and height must be >= 0, got w={w:g} h={h:g}", line=line)
    return PlateSample(
        image_path=image,
        text=fields[5] if len(fields) == 6 else "",
        xyxy=(x, y, x + w, y + h),
        corners=None,
        plate_format=plate_format,
    )


def read_openalpr_tolerant(
    folder: Path, plate_format: str | None = None
) -> tuple[list[PlateSample], list[str]]:
    """Like :func:`read_openalpr`, but a faulty photo is reported and skipped, not fatal.

    Faults: an image without its ``.txt``, a label naming another image or malformed, two
    images sharing one stem (``a.jpg`` and ``a.png`` would share ``a.txt``: both skipped), a
    ``.txt`` with no image beside it.

    Returns:
        The samples of the good photos, and one message per fault.

    Raises:
        DatasetError: The folder itself is missing.
    """
    if not folder.is_dir():
        raise DatasetError(folder, "folder not found")
    images = list_images(folder)
    stems: dict[str, list[Path]] = {}
    for image in images:
        stems.setdefault(image.stem, []).append(image)
    problems = [
        f"{', '.join(p.name for p in paths)}: several images share the label {stem}.txt; skipped"
        for stem, paths in sorted(stems.items())
        if len(paths) > 1
    ]
    problems += [
        f"{label}: no image beside it; skipped"
        for label in sorted(folder.glob("*.txt"))
        if label.stem not in stems and label.name.lower() not in ("license.txt", "readme.txt")
    ]
    samples: list[PlateSample] = []
    for _stem, paths in sorted(stems.items()):
        if len(paths) > 1:
            continue
        try:
            samples.extend(_image_samples(paths[0], plate_format))
        except DatasetError as exc:
            problems.append(f"{exc}; skipped")
    return samples, problems
