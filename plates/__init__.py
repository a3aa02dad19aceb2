"""Plate text: readers (roadwatch's own CTC recogniser, PP-OCR's), region formats, per-track votes."""
