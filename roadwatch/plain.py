"""The plain pipeline ``roadwatch bench pipeline`` compares against: what a first version of
such a system does (DeepStream's LPR sample without its tracker-driven sampling, fast-alpr
run on every frame).

Per frame, one at a time: detect (batch of one), then for **every** vehicle found embed its
crop and, where a plate was found in it, rectify, embed and read the plate, and search the
gallery with the result. No tracker, no best shots, no batching across frames or cameras, no
skipping of frames where nothing moves. The same models and settings as the real pipeline,
so the difference measured is the pipeline's design, not the networks.

The detector, most of a frame's cost, runs in torch in eager mode (the project's own
:class:`~detectors.twostage.TwoStageDetector`, rebuilt from the shipped ONNX graphs by
:func:`detectors.export.torch_from_onnx`: the same weights, the same detections), with the
model's own 300 proposals. Re-id embedding and plate reading run the same ONNX models as the
real pipeline: the plate reader's LSTM has no way back from ONNX to torch here (converters
such as ``onnx2torch`` need torchvision, which does not import on this CPU build of torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from config.schema import DetectorsConfig
from detectors.corners import rectified_plate
from detectors.pipeline import DetectionPipeline
from detectors.stage import BUNDLED, PLATE
from gallery.gallery import Gallery
from plates.reader import FormattedReader
from reid.embedder import Embedder
from reid.fusion import fuse
from streams.frame import Frame


@dataclass(slots=True)
class PlainPipeline:
    """Every frame through every model, one frame and one crop at a time."""

    detection: DetectionPipeline
    embedder: Embedder
    reader: FormattedReader | None
    gallery: Gallery
    plate_size: tuple[int, int] = (32, 128)
    vehicles: int = 0

    def process(self, frame: Frame) -> None:
        image = frame.image
        found = self.detection.detect_image(image)
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


def eager_detector(cfg: DetectorsConfig, folder: Path | None = None) -> DetectionPipeline:
    """The built-in detector (``folder``, else the config's, else the shipped one) in torch eager
    mode, with the configured passes and thresholds and the model's own proposal count.

    Raises:
        ValueError: The ONNX graphs are not the built-in detector's architecture.
    """
    import torch

    from detectors.export import torch_from_onnx
    from detectors.pipeline import torch_runner
    from detectors.stage import pipeline_spec

    models = folder or cfg.models or BUNDLED
    model, size = torch_from_onnx(models / "detector_features.onnx", models / "detector_head.onnx")
    torch.set_num_threads(cfg.threads)
    return DetectionPipeline(torch_runner(model), pipeline_spec(cfg, size))
