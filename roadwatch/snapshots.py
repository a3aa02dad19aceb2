"""The snapshot writer: best frames and crops of final sightings, written on their own thread."""

from __future__ import annotations

import logging
import queue
import threading

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
