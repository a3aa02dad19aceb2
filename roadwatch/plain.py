"""The plain pipeline ``roadwatch bench pipeline`` compares against: what a first version of
such a system does (DeepStream's LPR sample without its tracker-driven sampling, fast-alpr
run on every frame).

Per frame, one at a time: detect (batch of one), then for **every** vehicle found embed its
crop and, where a plate was found in it, rectify, embed and read the plate, and search the
gallery with the result. No tracker, no best shots, no batching across frames or cameras, no
skipping of frames where nothing moves. The same models and settings as the real pipeline,
so the difference measured is the pipeline's design, not the networks.

It runs the ONNX models, not torch in eager mode: the shipped weights exist only as ONNX
(batch norms folded into the convolutions at export), and converters to torch
(``onnx2torch``) need torchvision, which does not import on this CPU build of torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.corners import rectified_plate
from detectors.stage import PLATE, DetectionStage
from gallery.gallery import Gallery
from plates.reader import FormattedReader
from reid.embedder import Embedder
from reid.fusion import fuse
from streams.frame import Frame


@dataclass(slots=True)
class PlainPipeline:
    """Every frame through every model, one frame and one crop at a time."""

    detection: DetectionStage
    embedder: Embedder
    reader: FormattedReader | None
    gallery: Gallery
    plate_size: tuple[int, int] = (32, 128)
    vehicles: int = 0

    def process(self, frame: Frame) -> None:
        found = self.detection.detect(frame)
        image = frame.image
        for i in np.flatnonzero(found.class_id != PLATE):
            x1, y1, x2, y2 = (round(float(v)) for v in found.xyxy[i])
            crop = image[max(0, y1) : max(y1 + 1, y2), max(0, x1) : max(x1 + 1, x2)]
            vehicle = self.embedder.embed_vehicles([crop]).vectors[0]
            plates = [j for j in range(len(found)) if found.class_id[j] == PLATE and found.parent[j] == i]
            library, query = "vehicle", vehicle
            if plates:
                box = found.xyxy[max(plates, key=lambda j: float(found.confidence[j]))]
                plate = rectified_plate(image, box, self.plate_size, self.embedder.two_line_aspect)
                library, query = "fusion", fuse(vehicle, self.embedder.embed_plates([plate]).vectors[0])[0]
                if self.reader is not None:
                    self.reader.read([plate])
            self.gallery.search(library, query, 1)
            self.vehicles += 1
