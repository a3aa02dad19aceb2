"""The dataclass that crosses the reader → pipeline boundary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded image from one camera.

    Attributes:
        camera_id: Id of the camera (``cameras[].id`` in the config).
        index: 0-based count of frames this camera delivered, unbroken across reconnects.
        timestamp: Seconds. Live sources: wall clock (Unix time) at capture. Files and
            folders: media time from the start of the recording, so replays are repeatable.
        image: ``(H, W, 3)`` uint8 BGR pixels; owned by the frame, never written to.
        received: ``time.monotonic()`` when the reader had decoded it (0 for frames made
            elsewhere): where the pipeline's latency is measured from.
    """

    camera_id: str
    index: int
    timestamp: float
    image: npt.NDArray[np.uint8]
    received: float = 0.0

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])
