"""The live synthetic camera: a FrameSource that renders a scenario, wired through the config."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from config import ConfigError, StreamsConfig, validate_config
from roadwatch.events import JsonlEventSink
from roadwatch.pipeline import Pipeline
from streams import SourceError, build_readers
from synth.source import SyntheticSource, synthetic_source
from tests.support import make_flow


def test_renders_the_requested_camera(tiny_scenario: Path) -> None:
    source = SyntheticSource(str(tiny_scenario), camera="exit", paced=False)
    source.open()
    try:
        captures = [source.read() for _ in range(45)]  # past the 40-frame scenario: it loops
    finally:
        source.close()
    assert all(c is not None and c.image.shape == (180, 320, 3) for c in captures)
    first, looped = captures[0], captures[40]
    assert first is not None
    assert looped is not None
    assert np.array_equal(first.image, looped.image)


@pytest.mark.parametrize(
    ("scenario", "camera", "message"),
    [("no-such-scenario", None, "no such scenario"), ("toll-road", "tower", "has no camera 'tower'")],
)
def test_bad_scenario_or_camera_fails_without_retry(scenario: str, camera: str | None, message: str) -> None:
    with pytest.raises(SourceError, match=message) as info:
        SyntheticSource(scenario, camera=camera, paced=False).open()
    assert not info.value.retryable


def test_config_camera_of_kind_synthetic_runs_in_the_pipeline(tiny_scenario: Path, tmp_path: Path) -> None:
    cfg = validate_config(
        {
            "cameras": [
                {"id": "sim", "kind": "synthetic", "scenario": str(tiny_scenario), "scenario_camera": "gate"}
            ]
        }
    )
    bus, readers = build_readers(cfg.cameras, StreamsConfig(), synthetic=synthetic_source)
    stop = threading.Event()
    sink = JsonlEventSink(tmp_path / "events.jsonl")

    class StopAfter:
        def __init__(self) -> None:
            self.frames = 0

        def detect(self, frame):  # type: ignore[no-untyped-def]
            from detectors import Detections

            self.frames += 1
            if self.frames == 8:
                stop.set()
            assert frame.image.shape == (224, 400, 3)
            return Detections.empty()

    flow = make_flow(StopAfter(), tmp_path)
    summary = Pipeline(bus=bus, readers=readers, flow=flow, sink=sink, batch_frames=1).run(stop)
    flow.close()
    sink.close()
    assert summary.frames_processed == 8


def test_scenario_camera_only_for_synthetic_kind() -> None:
    with pytest.raises(
        ConfigError, match=r"cameras\[0\]\.scenario_camera: not used by a camera of kind 'file'"
    ):
        validate_config(
            {"cameras": [{"id": "a", "kind": "file", "path": "x.mp4", "scenario_camera": "gate"}]}
        )
