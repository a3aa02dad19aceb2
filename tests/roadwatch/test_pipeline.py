"""The pipeline loop: readers → detection stage → events (a stub detector is the stage input)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from config import CameraConfig, StreamsConfig
from detectors import Detections
from roadwatch.events import JsonlEventSink
from roadwatch.pipeline import Pipeline
from streams import Frame, build_readers


class OneBoxPerFrame:
    """Reports a box covering the left half of every even frame, nothing on odd ones."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def detect(self, frame: Frame) -> Detections:
        self.seen.append((frame.camera_id, frame.index))
        if frame.index % 2:
            return Detections.empty()
        box = np.array([[0, 0, frame.width / 2, frame.height]], np.float32)
        return Detections(box, np.array([0.75], np.float32), np.array([2], np.int32))


def _cameras(clip: Path) -> tuple[CameraConfig, ...]:
    return (
        CameraConfig(id="a", kind="file", path=clip, queue_size=2),
        CameraConfig(id="b", kind="file", path=clip, queue_size=2),
    )


def test_every_frame_of_every_camera_reaches_the_detector(sample_clip: Path, tmp_path: Path) -> None:
    bus, readers = build_readers(_cameras(sample_clip), StreamsConfig())
    sink = JsonlEventSink(tmp_path / "events.jsonl")
    detector = OneBoxPerFrame()
    summary = Pipeline(bus=bus, readers=readers, detector=detector, sink=sink).run(threading.Event())
    sink.close()
    assert summary.frames_processed == summary.frames_read == 80
    assert summary.frames_dropped == 0
    assert sorted(detector.seen) == sorted((c, i) for c in "ab" for i in range(40))
    # per camera, frames arrive in order
    assert [i for c, i in detector.seen if c == "a"] == list(range(40))
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(events) == 40  # 20 even frames x 2 cameras
    assert events[0]["kind"] == "detections"
    assert events[0]["boxes"] == [[0.0, 0.0, 80.0, 96.0]]
    assert events[0]["scores"] == [0.75]


def test_empty_detector_slot_writes_no_detection_events(sample_clip: Path, tmp_path: Path) -> None:
    bus, readers = build_readers(_cameras(sample_clip)[:1], StreamsConfig())
    sink = JsonlEventSink(tmp_path / "events.jsonl")
    summary = Pipeline(bus=bus, readers=readers, detector=None, sink=sink).run(threading.Event())
    sink.close()
    assert summary.frames_processed == 40
    assert sink.count == 0


def test_stop_event_ends_the_run_and_joins_readers(sample_clip: Path, tmp_path: Path) -> None:
    bus, readers = build_readers(_cameras(sample_clip), StreamsConfig())
    sink = JsonlEventSink(tmp_path / "events.jsonl")
    stop = threading.Event()

    class StopAfterFive(OneBoxPerFrame):
        def detect(self, frame: Frame) -> Detections:
            if len(self.seen) == 4:
                stop.set()
            return super().detect(frame)

    summary = Pipeline(bus=bus, readers=readers, detector=StopAfterFive(), sink=sink).run(stop)
    sink.close()
    assert summary.frames_processed == 5
    assert all(not t.is_alive() for t in threading.enumerate() if t.name.startswith("reader-"))
