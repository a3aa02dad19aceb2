"""Dataset formats: read and write the layouts users train on (YOLO, COCO, VeRi, plate sets).

Every reader returns the dataclasses in :mod:`formats.types` and reports a bad file as a
one-line :class:`DatasetError` naming the file (and line or entry).
"""

from formats.ccpd import ADS, ALPHABETS, PROVINCES, ccpd_name, parse_ccpd_name, read_ccpd
from formats.coco import read_coco, write_coco
from formats.openalpr import read_openalpr
from formats.plates import read_plate_csv, write_plate_csv
from formats.types import DatasetError, DetectionSample, PlateSample, ReidSample
from formats.veri import parse_veri_name, read_veri, veri_name, write_plate_sidecar, write_veri_lists
from formats.yolo import read_yolo, write_yolo

__all__ = [
    "ADS",
    "ALPHABETS",
    "PROVINCES",
    "DatasetError",
    "DetectionSample",
    "PlateSample",
    "ReidSample",
    "ccpd_name",
    "parse_ccpd_name",
    "parse_veri_name",
    "read_ccpd",
    "read_coco",
    "read_openalpr",
    "read_plate_csv",
    "read_veri",
    "read_yolo",
    "veri_name",
    "write_coco",
    "write_plate_csv",
    "write_plate_sidecar",
    "write_veri_lists",
    "write_yolo",
]
