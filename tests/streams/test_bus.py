"""FrameBus: round-robin, live drops, backpressure, close, finished, timeouts."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from streams.bus import FrameBus
from streams.frame import Frame

# Upper bound for waits on another thread; only reached when the code under test is broken.
WAIT_S = 2.0
# How long a producer must stay blocked to count as blocked.
BLOCKED_S = 0.1


def frame(camera_id: str, index: int) -> Frame:
    return Frame(camera_id, index, float(index), np.zeros((2, 2, 3), np.uint8))


def key(f: Frame | None) -> tuple[str, int] | None:
    return None if f is None else (f.camera_id, f.index)


def drain(bus: FrameBus) -> list[tuple[str, int] | None]:
    out = []
    while (f := bus.get(timeout=0)) is not None:
        out.append(key(f))
    return out


class Producer(threading.Thread):
    """Puts one frame from its own thread; ``returned`` is set when ``put`` comes back."""

    def __init__(self, bus: FrameBus, f: Frame, *, live: bool) -> None:
        super().__init__(daemon=True)
        self.bus, self.frame, self.live = bus, f, live
        self.returned = threading.Event()
        self.result: bool | None = None

    def run(self) -> None:
        self.result = self.bus.put(self.frame, live=self.live)
        self.returned.set()


@pytest.mark.parametrize(
    ("puts", "expected"),
    [
        pytest.param(
            [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)],
            [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)],
            id="alternates-then-leftover",
        ),
        pytest.param(
            [("b", 0), ("b", 1), ("b", 2)],
            [("b", 0), ("b", 1), ("b", 2)],
            id="idle-camera-skipped",
        ),
        pytest.param(
            [("b", 0), ("a", 0), ("b", 1), ("a", 1)],
            [("a", 0), ("b", 0), ("a", 1), ("b", 1)],
            id="order-of-cameras-not-of-puts",
        ),
        pytest.param([], [], id="empty"),
    ],
)
def test_round_robin_across_cameras(puts: list[tuple[str, int]], expected: list[tuple[str, int]]) -> None:
    bus = FrameBus([("a", 4), ("b", 4)])
    for camera_id, index in puts:
        assert bus.put(frame(camera_id, index), live=False)
    assert drain(bus) == expected


def test_busy_camera_cannot_starve_another() -> None:
    bus = FrameBus([("busy", 8), ("quiet", 8)])
    for i in range(6):
        bus.put(frame("busy", i), live=False)
    assert key(bus.get(timeout=0)) == ("busy", 0)
    bus.put(frame("quiet", 0), live=False)
    # The quiet camera's frame comes next, not after the busy camera's backlog.
    assert key(bus.get(timeout=0)) == ("quiet", 0)
    assert key(bus.get(timeout=0)) == ("busy", 1)


@pytest.mark.parametrize(
    ("capacity", "n_put", "kept", "dropped"),
    [
        pytest.param(2, 5, [3, 4], 3, id="cap2-put5"),
        pytest.param(1, 3, [2], 2, id="cap1-put3"),
        pytest.param(3, 3, [0, 1, 2], 0, id="exactly-full"),
        pytest.param(3, 0, [], 0, id="nothing-put"),
    ],
)
def test_live_put_drops_oldest_and_counts(capacity: int, n_put: int, kept: list[int], dropped: int) -> None:
    bus = FrameBus([("live", capacity), ("other", 2)])
    for i in range(n_put):
        assert bus.put(frame("live", i), live=True) is True
    assert bus.dropped("live") == dropped
    assert bus.dropped("other") == 0
    assert drain(bus) == [("live", i) for i in kept]


def test_live_put_never_blocks_when_full() -> None:
    bus = FrameBus([("a", 1)])
    bus.put(frame("a", 0), live=True)
    producer = Producer(bus, frame("a", 1), live=True)
    producer.start()
    assert producer.returned.wait(WAIT_S)
    assert producer.result is True
    assert bus.dropped("a") == 1


def test_non_live_put_waits_for_room() -> None:
    bus = FrameBus([("rec", 1)])
    assert bus.put(frame("rec", 0), live=False)
    producer = Producer(bus, frame("rec", 1), live=False)
    producer.start()
    try:
        assert not producer.returned.wait(BLOCKED_S), "put on a full queue returned without room"
        assert key(bus.get(timeout=WAIT_S)) == ("rec", 0)
        assert producer.returned.wait(WAIT_S), "put stayed blocked after the consumer took a frame"
        assert producer.result is True
        assert key(bus.get(timeout=WAIT_S)) == ("rec", 1)
        assert bus.dropped("rec") == 0
    finally:
        bus.close()
        producer.join(WAIT_S)


def test_close_wakes_blocked_producer() -> None:
    bus = FrameBus([("rec", 1)])
    bus.put(frame("rec", 0), live=False)
    producer = Producer(bus, frame("rec", 1), live=False)
    producer.start()
    try:
        assert not producer.returned.wait(BLOCKED_S)
        bus.close()
        assert producer.returned.wait(WAIT_S), "close() did not wake the blocked producer"
        assert producer.result is False
    finally:
        producer.join(WAIT_S)
    assert not producer.is_alive()
    # The frame queued before close can still be taken; the refused one was never queued.
    assert drain(bus) == [("rec", 0)]
    assert bus.finished


@pytest.mark.parametrize("live", [True, False])
def test_put_after_close_is_refused(live: bool) -> None:
    bus = FrameBus([("a", 2)])
    bus.close()
    assert bus.put(frame("a", 0), live=live) is False
    assert bus.get(timeout=0) is None
    assert bus.finished


def test_get_wakes_when_a_frame_arrives() -> None:
    bus = FrameBus([("a", 2)])
    got: list[Frame | None] = []
    consumer = threading.Thread(target=lambda: got.append(bus.get(timeout=WAIT_S)), daemon=True)
    consumer.start()
    bus.put(frame("a", 7), live=False)
    consumer.join(WAIT_S)
    assert not consumer.is_alive()
    assert [key(f) for f in got] == [("a", 7)]


def test_finished_after_every_producer_done_and_queue_empty() -> None:
    bus = FrameBus([("a", 2), ("b", 2)])
    assert not bus.finished
    bus.put(frame("a", 0), live=False)
    bus.producer_done("a")
    assert not bus.finished  # b still open, and a frame is waiting
    bus.producer_done("b")
    assert not bus.finished  # every producer is done, but a frame is left
    assert key(bus.get(timeout=0)) == ("a", 0)
    assert bus.finished


def test_get_returns_at_once_when_finished() -> None:
    bus = FrameBus([("a", 2)])
    bus.producer_done("a")
    start = time.monotonic()
    assert bus.get(timeout=WAIT_S) is None
    assert time.monotonic() - start < WAIT_S / 2


def test_producer_done_wakes_a_waiting_consumer() -> None:
    bus = FrameBus([("a", 2)])
    returned = threading.Event()

    def consume() -> None:
        bus.get(timeout=WAIT_S * 5)
        returned.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    assert not returned.wait(BLOCKED_S)
    bus.producer_done("a")
    assert returned.wait(WAIT_S), "producer_done() did not wake get()"
    consumer.join(WAIT_S)


def test_one_producer_done_is_not_finished() -> None:
    bus = FrameBus([("a", 2), ("b", 2)])
    bus.producer_done("a")
    assert not bus.finished
    assert bus.get(timeout=0.01) is None


def test_get_times_out_with_none() -> None:
    bus = FrameBus([("a", 2)])
    start = time.monotonic()
    assert bus.get(timeout=0.05) is None
    elapsed = time.monotonic() - start
    assert 0.04 <= elapsed < WAIT_S
    assert not bus.finished


def test_bus_without_cameras_is_finished() -> None:
    bus = FrameBus([])
    assert bus.finished
    assert bus.get(timeout=0) is None


@pytest.mark.parametrize("size", [0, -1])
def test_queue_size_below_one_raises(size: int) -> None:
    with pytest.raises(ValueError, match=f"queue size of camera 'b' must be >= 1, got {size}"):
        FrameBus([("a", 1), ("b", size)])


def test_live_put_on_closed_full_bus_keeps_the_queued_frames() -> None:
    bus = FrameBus([("cam", 1)])
    assert bus.put(frame("cam", 0), live=True)
    bus.close()
    assert not bus.put(frame("cam", 1), live=True)
    assert bus.dropped("cam") == 0
    assert key(bus.get(timeout=0.1)) == ("cam", 0)


def test_put_for_unknown_camera_is_a_clear_error() -> None:
    bus = FrameBus([("cam", 1)])
    with pytest.raises(ValueError, match="'other' has no queue"):
        bus.put(frame("other", 0), live=True)
