"""Vehicle and plate detection. Today: the stage boundary (``Detections``, ``Detector``)."""

from detectors.base import Detections, Detector

__all__ = ["Detections", "Detector"]
