"""The gallery as a portable file: ``roadwatch gallery export`` / ``import``.

A zip archive (stored, not compressed: features do not compress) holding

- ``meta.json``: ``{"format": "roadwatch-gallery", "version": 1, "identities": N,
  "libraries": {"fusion": 256, "plate": 128, "vehicle": 128}}``
- ``records.jsonl``: one line per identity, ``{"id": n, "record": {field: value, ...}}``
- ``<library>.npy`` ``(R, D)`` float32 exemplars and ``<library>.ids.npy`` ``(R,)`` int64, the
  identity of each row (an identity's rows in exemplar order).

Import checks everything before writing anything: the archive's members and their sizes
(a cap on the uncompressed total), the format and version, array dtypes and shapes
(``allow_pickle=False``), finite unit-length features, rows pointing at known records, record
fields from the data model only, as text of bounded length. Identities are enrolled under new
numbers (the target gallery may hold others), in batches of one atomic script each.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gallery.store import LIBRARIES, GalleryStore, NewIdentity, unpack

FORMAT, VERSION = "roadwatch-gallery", 1
RECORD_FIELDS = frozenset(
    [
        "first_camera",
        "first_ts",
        "last_camera",
        "last_ts",
        "sightings",
        "plate",
        "plate_conf",
        "type",
        "colour",
        "snapshot",
        "seen",
    ]
)
MAX_FIELD_CHARS = 4096
MAX_TOTAL_BYTES = 16 * 2**30


class GalleryFileError(ValueError):
    """An export file that cannot be imported (the message says why)."""


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export wrote."""

    path: Path
    identities: int
    exemplars: dict[str, int]


def export_gallery(store: GalleryStore, path: Path, batch: int = 5000) -> Exported:
    """Write every identity of ``store`` to ``path`` (written whole, then renamed into place)."""
    ids = store.identities()
    rows: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    owners: dict[str, list[npt.NDArray[np.int64]]] = defaultdict(list)
    lines = []
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        for identity, record in zip(chunk, store.records(chunk, complete=False), strict=True):
            lines.append(json.dumps({"id": identity, "record": record}, separators=(",", ":")))
        for library in LIBRARIES:
            for identity, blob in zip(chunk, store.exemplar_blobs(library, chunk), strict=True):
                if blob:
                    vectors = unpack(blob, library)
                    rows[library].append(vectors)
                    owners[library].append(np.full(len(vectors), identity, np.int64))
    meta = {"format": FORMAT, "version": VERSION, "identities": len(ids), "libraries": LIBRARIES}
    tmp = path.with_name(path.name + ".part")
    counts = {}
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("meta.json", json.dumps(meta))
        archive.writestr("records.jsonl", "\n".join(lines) + ("\n" if lines else ""))
        for library, dim in LIBRARIES.items():
            vectors = np.concatenate(rows[library]) if rows[library] else np.zeros((0, dim), np.float32)
            who = np.concatenate(owners[library]) if owners[library] else np.zeros(0, np.int64)
            archive.writestr(f"{library}.npy", _npy(vectors.astype("<f4")))
            archive.writestr(f"{library}.ids.npy", _npy(who.astype("<i8")))
            counts[library] = len(vectors)
    tmp.replace(path)
    return Exported(path, len(ids), counts)


def read_gallery_file(path: Path) -> dict[int, NewIdentity]:
    """Every identity of an export file by its exported number, checked (see the module docstring).

    Raises:
        GalleryFileError: Anything wrong with the file, named.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise GalleryFileError(f"{path}: not a gallery export ({exc})") from None
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        wanted = {"meta.json", "records.jsonl"} | {
            f"{lib}{ext}" for lib in LIBRARIES for ext in (".npy", ".ids.npy")
        }
        if set(members) != wanted:
            extra, missing = sorted(set(members) - wanted), sorted(wanted - set(members))
            raise GalleryFileError(f"{path}: unexpected members {extra}, missing {missing}")
        if sum(info.file_size for info in members.values()) > MAX_TOTAL_BYTES:
            raise GalleryFileError(f"{path}: more than {MAX_TOTAL_BYTES >> 30} GiB uncompressed")
        meta = _json(archive, "meta.json", path)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise GalleryFileError(f"{path}: not a {FORMAT} file of version {VERSION}")
        if meta.get("libraries") != LIBRARIES:
            raise GalleryFileError(f"{path}: libraries {meta.get('libraries')} differ from {LIBRARIES}")
        records = _records(archive, path)
        features: dict[int, dict[str, list[npt.NDArray[np.float32]]]] = defaultdict(lambda: defaultdict(list))
        for library, dim in LIBRARIES.items():
            vectors = _array(archive, f"{library}.npy", path, np.float32, (-1, dim))
            owners = _array(archive, f"{library}.ids.npy", path, np.int64, (-1,))
            if len(vectors) != len(owners):
                raise GalleryFileError(f"{path}: {library}: {len(vectors)} rows but {len(owners)} identities")
            if len(vectors) and not np.isfinite(vectors).all():
                raise GalleryFileError(f"{path}: {library}: NaN or infinite values")
            norms = np.linalg.norm(vectors, axis=1)
            if len(norms) and (np.abs(norms - 1) > 1e-3).any():
                raise GalleryFileError(f"{path}: {library}: rows are not unit vectors")
            unknown = set(np.unique(owners).tolist()) - set(records)
            if unknown:
                raise GalleryFileError(
                    f"{path}: {library}: rows of identities without a record {sorted(unknown)[:5]}"
                )
            for identity, vector in zip(owners.tolist(), vectors, strict=True):
                features[identity][library].append(vector)
    return {
        identity: NewIdentity({lib: np.stack(v) for lib, v in features[identity].items()}, records[identity])
        for identity in sorted(records)
        if features[identity]
    }


def import_gallery(store: GalleryStore, path: Path, batch: int = 500) -> dict[int, int]:
    """Enrol every identity of an export file; returns ``{old id: new id}``.

    Raises:
        GalleryFileError: The file is not importable (nothing is written then).
    """
    items = read_gallery_file(path)
    old_ids = list(items)
    mapping: dict[int, int] = {}
    for start in range(0, len(items), batch):
        chunk = [items[old] for old in old_ids[start : start + batch]]
        trimmed = [
            NewIdentity(
                {lib: np.asarray(v)[: store.max_exemplars] for lib, v in item.features.items()}, item.record
            )
            for item in chunk
        ]
        done = store.enrol_many(trimmed)
        for old, result in zip(old_ids[start : start + batch], done.results, strict=True):
            mapping[old] = result.identity
    return mapping


def _npy(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _json(archive: zipfile.ZipFile, name: str, path: Path) -> Any:
    try:
        return json.loads(archive.read(name))
    except (ValueError, UnicodeDecodeError) as exc:
        raise GalleryFileError(f"{path}: {name}: not JSON ({exc})") from None


def _records(archive: zipfile.ZipFile, path: Path) -> dict[int, dict[str, str]]:
    records: dict[int, dict[str, str]] = {}
    try:
        text = archive.read("records.jsonl").decode()
    except UnicodeDecodeError as exc:
        raise GalleryFileError(f"{path}: records.jsonl: not UTF-8 ({exc})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise GalleryFileError(f"{path}: records.jsonl line {number}: not JSON ({exc})") from None
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), int)
            and isinstance(entry.get("record"), dict)
        ):
            raise GalleryFileError(f"{path}: records.jsonl line {number}: needs an integer id and a record")
        record = entry["record"]
        bad = [
            k
            for k, v in record.items()
            if k not in RECORD_FIELDS or not isinstance(v, str) or len(v) > MAX_FIELD_CHARS
        ]
        if bad:
            raise GalleryFileError(f"{path}: records.jsonl line {number}: bad fields {sorted(bad)}")
        if entry["id"] in records:
            raise GalleryFileError(f"{path}: records.jsonl line {number}: identity {entry['id']} twice")
        records[entry["id"]] = record
    return records


def _array(
    archive: zipfile.ZipFile, name: str, path: Path, dtype: Any, shape: tuple[int, ...]
) -> npt.NDArray[Any]:
    try:
        array = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise GalleryFileError(f"{path}: {name}: not a numpy array ({exc})") from None
    if (
        array.dtype != np.dtype(dtype)
        or array.ndim != len(shape)
        or (len(shape) == 2 and array.shape[1] != shape[1])
    ):
        raise GalleryFileError(
            f"{path}: {name}: expected {np.dtype(dtype)} of shape {shape}, got {array.dtype} {array.shape}"
        )
    checked: npt.NDArray[Any] = array
    return checked
