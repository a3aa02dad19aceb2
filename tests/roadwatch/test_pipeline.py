"""The whole pipeline on a real clip: readers → stages → sightings, with the shipped re-id models
and a real embedded Redis gallery. The detector is the one stand-in: it reports one vehicle
moving across every frame, so the expected tracks and sightings are known exactly."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from config import CameraConfig, StreamsConfig
from detectors import Detections
from roadwatch.events import JsonlEventSink, Sighting
from roadwatch.flow import Flow
from roadwatch.pipeline import Pipeline
from streams import Frame, build_readers
from tests.support import make_flow


class MovingCar:
    """One car box sliding right by ``speed`` px a frame (``width`` px wide), on every frame."""

    def __init__(self, width: float = 60.0, speed: float = 2.0) -> None:
        self.width, self.speed = width, speed
        self.seen: list[tuple[str, int]] = []

    def detect(self, frame: Frame) -> Detections:
        self.seen.append((frame.camera_id, frame.index))
        x = 10.0 + self.speed * frame.index
        box = np.array([[x, 20, x + self.width, 80]], np.float32)
        return Detections(box, np.array([0.9], np.float32), np.array([0], np.int32))


class Nothing:
    def detect(self, frame: Frame) -> Detections:
        return Detections.empty()


def _cameras(clip: Path, n: int = 2) -> tuple[CameraConfig, ...]:
    return tuple(CameraConfig(id=c, kind="file", path=clip, queue_size=2) for c in "ab"[:n])


def _run(
    clip: Path, tmp: Path, detector: object, *, cameras: int = 2, flow: Flow | None = None
) -> tuple[list[Sighting], list[dict[str, object]], object]:
    bus, readers = build_readers(_cameras(clip, cameras), StreamsConfig())
    sink = JsonlEventSink(tmp / "events.jsonl", append=False)
    flow = flow or make_flow(detector, tmp)
    seen: list[Sighting] = []
    summary = Pipeline(bus=bus, readers=readers, flow=flow, sink=sink, on_sighting=seen.append).run(
        threading.Event()
    )
    sink.close()
    flow.close()
    events = [json.loads(line) for line in (tmp / "events.jsonl").read_text().splitlines()]
    return seen, events, summary


def test_one_sighting_per_pass_and_the_same_identity_on_both_cameras(
    sample_clip: Path, tmp_path: Path
) -> None:
    detector = MovingCar()
    seen, events, summary = _run(sample_clip, tmp_path, detector)
    assert summary.frames_processed == summary.frames_read == 80  # type: ignore[attr-defined]
    assert sorted(detector.seen) == sorted((c, i) for c in "ab" for i in range(40))
    assert [i for c, i in detector.seen if c == "a"] == list(range(40))  # in order per camera
    finals = [s for s in seen if s.status == "final"]
    assert sorted(s.camera for s in finals) == ["a", "b"]
    first, second = sorted(finals, key=lambda s: s.identity is not None and s.new, reverse=True)
    assert first.new
    assert first.identity is not None
    assert second.identity == first.identity
    assert not second.new
    assert second.score > 0.99
    for s in finals:
        assert (s.first_frame, s.last_frame) == (0, 39)
        assert s.first_time <= s.last_time
        assert s.error == ""
        assert all(Path(path).is_file() for path in s.snapshots.values())
        assert set(s.snapshots) == {"frame", "vehicle"}
    written = [e for e in events if e["kind"] == "sighting"]
    assert [e["id"] for e in written if e["status"] == "final"] == [s.id for s in finals]
    assert all(e["schema"] == 1 for e in written)
    provisional = [s for s in seen if s.status == "provisional"]
    assert {s.id for s in provisional} <= {s.id for s in finals}  # a provisional one shares its pass's id


def test_replaying_the_same_footage_gives_the_same_sighting_ids(sample_clip: Path, tmp_path: Path) -> None:
    ids = []
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
        seen, _, _ = _run(sample_clip, tmp_path / run, MovingCar(), cameras=1)
        ids.append([s.id for s in seen if s.status == "final"])
    assert ids[0] == ids[1]
    assert len(ids[0]) == 1


def test_frames_without_detections_give_no_sightings(sample_clip: Path, tmp_path: Path) -> None:
    seen, events, summary = _run(sample_clip, tmp_path, Nothing())
    assert summary.frames_processed == 80  # type: ignore[attr-defined]
    assert seen == []
    assert events == []


def test_a_track_without_a_usable_crop_is_reported_without_identity(
    sample_clip: Path, tmp_path: Path
) -> None:
    still = MovingCar(width=1.0, speed=0.0)  # a 1 px wide box: no crop to embed
    flow = make_flow(still, tmp_path, min_move=0.0)  # reported although it never moves
    seen, _, _ = _run(sample_clip, tmp_path, still, cameras=1, flow=flow)
    finals = [s for s in seen if s.status == "final"]
    assert len(finals) == 1
    assert finals[0].identity is None
    assert "no usable view" in finals[0].error
    assert finals[0].snapshots == {}


def test_detection_off_counts_frames_only(sample_clip: Path, tmp_path: Path) -> None:
    bus, readers = build_readers(_cameras(sample_clip, 1), StreamsConfig())
    sink = JsonlEventSink(tmp_path / "events.jsonl")
    summary = Pipeline(bus=bus, readers=readers, flow=None, sink=sink).run(threading.Event())
    sink.close()
    assert summary.frames_processed == 40
    assert sink.count == 0


def test_stop_event_ends_the_run_and_joins_readers(sample_clip: Path, tmp_path: Path) -> None:
    stop = threading.Event()

    class StopAfterFive(MovingCar):
        def detect(self, frame: Frame) -> Detections:
            if len(self.seen) == 4:
                stop.set()
            return super().detect(frame)

    bus, readers = build_readers(_cameras(sample_clip), StreamsConfig())
    sink = JsonlEventSink(tmp_path / "events.jsonl")
    flow = make_flow(StopAfterFive(), tmp_path)
    summary = Pipeline(bus=bus, readers=readers, flow=flow, sink=sink, batch_frames=1).run(stop)
    sink.close()
    flow.close()
    assert summary.frames_processed == 5
    assert all(not t.is_alive() for t in threading.enumerate() if t.name.startswith("reader-"))


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_batching_frames_changes_nothing(sample_clip: Path, tmp_path: Path, batch: int) -> None:
    bus, readers = build_readers(_cameras(sample_clip), StreamsConfig())
    sink = JsonlEventSink(tmp_path / "events.jsonl")
    flow = make_flow(MovingCar(), tmp_path)
    seen: list[Sighting] = []
    on: Callable[[Sighting], None] = seen.append
    Pipeline(bus=bus, readers=readers, flow=flow, sink=sink, batch_frames=batch, on_sighting=on).run(
        threading.Event()
    )
    sink.close()
    flow.close()
    finals = [s for s in seen if s.status == "final"]
    assert len(finals) == 2
    assert len({s.identity for s in finals}) == 1


def test_a_failing_re_id_model_gives_sightings_that_say_so(
    sample_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reid.embedder import EmbedderError

    flow = make_flow(MovingCar(), tmp_path)

    def broken(*_: object) -> None:
        raise EmbedderError("model crashed")

    monkeypatch.setattr(flow.stages.recogniser.embedder, "features_of_views", broken)
    seen, _, summary = _run(sample_clip, tmp_path, MovingCar(), cameras=1, flow=flow)
    assert summary.frames_processed == 40  # type: ignore[attr-defined]
    finals = [s for s in seen if s.status == "final"]
    assert len(finals) == 1
    assert finals[0].identity is None
    assert finals[0].error == "re-id failed"


def test_a_vehicle_that_never_moves_gives_no_sighting(sample_clip: Path, tmp_path: Path) -> None:
    parked = MovingCar(speed=0.0)
    flow = make_flow(parked, tmp_path)
    seen, _, summary = _run(sample_clip, tmp_path, parked, cameras=1, flow=flow)
    assert seen == []
    assert summary.tracks["still"] == 1  # type: ignore[attr-defined]
    assert summary.to_dict()["tracks"] == {"merged": 0, "glimpses": 0, "still": 1, "stationary_now": 0}  # type: ignore[attr-defined]
