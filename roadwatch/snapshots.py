"""Snapshots: the writer (best frames and crops of final sightings, on their own thread) and
the janitor that applies retention by age and size, sparing what alerts refer to."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2

from roadwatch.stages.sightings import SnapshotJob

log = logging.getLogger(__name__)
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 90]


class SnapshotWriter:
    """Writes :class:`SnapshotJob` images behind a bounded queue (``submit`` waits when it is
    full, so no snapshot is lost; a write that fails is logged and counted).

    Args:
        queue_size: Jobs waiting at most.
    """

    def __init__(self, queue_size: int = 64) -> None:
        self._queue: queue.Queue[SnapshotJob | None] = queue.Queue(queue_size)
        self.written = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
        self._thread.start()

    def submit(self, job: SnapshotJob) -> None:
        """Queue one sighting's images."""
        self._queue.put(job)

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            images = {
                "frame": job.shot.frame.image,
                "vehicle": job.shot.vehicle_crop,
                "plate": job.shot.plate_crop,
            }
            for kind, path in job.paths.items():
                image = images.get(kind)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if image is None or not cv2.imwrite(str(path), image, _JPEG):
                        raise OSError("encoder refused the image")
                    self.written += 1
                except OSError as exc:
                    self.failed += 1
                    log.warning("%s: snapshot not written: %s", path, exc)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one retention sweep did."""

    deleted_sightings: int
    deleted_files: int
    deleted_bytes: int
    kept_for_alerts: int
    remaining_bytes: int


class SnapshotJanitor:
    """Applies snapshot retention: a sighting's images (``<camera>/<id>-<kind>.jpg``) are
    deleted, whole, once older than ``max_age_s``, then oldest first while the folder holds more
    than ``max_bytes``, except the sightings ``kept()`` names (those an alert refers to, for as
    long as the alert is kept). Sweeps at start and every ``every_s`` on its own thread.

    Args:
        folder: The snapshot folder.
        max_age_s: Age limit, or None.
        max_bytes: Size limit, or None.
        kept: The sighting ids to spare (read at each sweep), or None.
        every_s: Seconds between sweeps.
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_age_s: float | None,
        max_bytes: int | None,
        kept: Callable[[], set[str]] | None = None,
        every_s: float = 300.0,
    ) -> None:
        self.folder = folder
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.kept = kept
        self.every_s = every_s
        self.deleted_sightings = self.deleted_files = self.deleted_bytes = self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshot-retention", daemon=True)

    def start(self) -> SnapshotJanitor:
        """Sweep now and then every ``every_s``."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop sweeping."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def stats(self) -> dict[str, int]:
        """Counters since start."""
        return {
            "deleted_sightings": self.deleted_sightings,
            "deleted_files": self.deleted_files,
            "deleted_bytes": self.deleted_bytes,
            "failures": self.failures,
        }

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception as exc:  # a sweep must never take the run down
                self.failures += 1
                log.warning("%s: retention sweep failed: %s", self.folder, exc)
            if self._stop.wait(self.every_s):
                return

    def sweep(self, now: float | None = None) -> SweepResult:
        """Apply the limits once."""
        now = time.time() if now is None else now
        groups: dict[str, list[tuple[Path, float, int]]] = defaultdict(list)
        for path in self.folder.glob("*/*.jpg"):
            try:
                stat = path.stat()
            except OSError:
                continue
            groups[path.name.split("-", 1)[0]].append((path, stat.st_mtime, stat.st_size))
        spare = self.kept() if self.kept is not None else set()
        order = sorted(groups, key=lambda g: max(m for _, m, _ in groups[g]))
        total = sum(size for files in groups.values() for _, _, size in files)
        kept = deleted = files_gone = bytes_gone = 0
        for sighting in order:
            files = groups[sighting]
            newest = max(m for _, m, _ in files)
            too_old = self.max_age_s is not None and now - newest > self.max_age_s
            too_big = self.max_bytes is not None and total > self.max_bytes
            if not (too_old or too_big):
                break  # sorted by age: nothing later is too old, and the size fits
            if sighting in spare:
                kept += 1
                continue
            size = sum(s for _, _, s in files)
            for path, _, file_size in files:
                try:
                    path.unlink()
                    files_gone += 1
                    bytes_gone += file_size
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self.failures += 1
                    log.warning("%s: not deleted: %s", path, exc.strerror or exc)
            total -= size
            deleted += 1
        self.deleted_sightings += deleted
        self.deleted_files += files_gone
        self.deleted_bytes += bytes_gone
        return SweepResult(deleted, files_gone, bytes_gone, kept, total)
