"""Webhook delivery against a real HTTP receiver: signatures, retries, refusals, timeouts,
closed connections, and a receiver that goes down and comes back (spool, order, once each)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from alerts.delivery import WebhookSink
from alerts.schema import Alert
from roadwatch.receiver import Receiver
from tests.support import free_port


def _alert(n: int) -> Alert:
    return Alert(
        id=f"a{n:04d}",
        kind="watchlist",
        severity="warning",
        camera="gate",
        time=float(n),
        identity=n,
        plate_text="AB123CD",
        sighting={"id": f"s{n}"},
        rule={"name": "watchlist"},
    )


def _sink(url: str, tmp_path: Path, **options: object) -> WebhookSink:
    defaults: dict[str, object] = {"retries": 2, "backoff_s": 0.02, "max_backoff_s": 0.1, "timeout_s": 1.0}
    return WebhookSink(url, tmp_path / "spool" / "hook.jsonl", **(defaults | options))  # type: ignore[arg-type]


def test_alerts_arrive_in_order_signed_and_once(tmp_path: Path) -> None:
    receiver = Receiver(secret="s3cret").start()
    sink = _sink(receiver.url, tmp_path, secret="s3cret")
    for n in range(20):
        sink.submit(_alert(n))
    sink.close()
    receiver.stop()
    assert [b["id"] for b in receiver.bodies()] == [f"a{n:04d}" for n in range(20)]
    assert receiver.refused == 0
    assert receiver.received[0].headers["X-Roadwatch-Alert-Id"] == "a0000"
    assert receiver.bodies()[0]["schema"] == 1
    assert sink.stats()["delivered"] == 20


def test_a_wrong_secret_is_refused_and_counted(tmp_path: Path) -> None:
    receiver = Receiver(secret="right").start()
    sink = _sink(receiver.url, tmp_path, secret="wrong")
    sink.submit(_alert(1))
    sink.close()
    receiver.stop()
    assert receiver.bodies() == []
    assert sink.stats()["rejected"] == 1  # a 401 is the receiver's answer, not an outage


def test_a_500_is_retried_until_it_is_accepted(tmp_path: Path) -> None:
    receiver = Receiver(status=500).start()
    sink = _sink(receiver.url, tmp_path)
    sink.submit(_alert(1))
    deadline = time.monotonic() + 10
    while receiver.refused < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    receiver.status = 200
    sink.close()
    receiver.stop()
    assert [b["id"] for b in receiver.bodies()] == ["a0001"]
    assert receiver.refused >= 2
    assert sink.stats()["failures"] >= 2


def test_a_receiver_down_for_a_while_gets_everything_once_in_order_after(tmp_path: Path) -> None:
    receiver = Receiver(port=free_port()).start()
    sink = _sink(receiver.url, tmp_path)
    for n in range(5):
        sink.submit(_alert(n))
    assert receiver.wait_for(5)
    receiver.stop()
    for n in range(5, 30):
        sink.submit(_alert(n))
        time.sleep(0.01)
    assert receiver.wait_for(6, timeout_s=0.3) is False
    assert (tmp_path / "spool" / "hook.jsonl").stat().st_size > 0  # waiting on disk
    receiver.start()
    assert receiver.wait_for(30, timeout_s=10)
    sink.close()
    receiver.stop()
    ids = [b["id"] for b in receiver.bodies()]
    assert ids == [f"a{n:04d}" for n in range(30)]
    assert sink.stats()["spooled"] > 0
    assert sink.stats()["waiting"] == 0


def test_what_is_not_delivered_at_close_waits_on_disk_for_the_next_start(tmp_path: Path) -> None:
    port = free_port()
    sink = _sink(f"http://127.0.0.1:{port}/alerts", tmp_path)
    for n in range(3):
        sink.submit(_alert(n))
    sink.close(timeout_s=0.3)
    assert sink.stats()["delivered"] == 0
    receiver = Receiver(port=port).start()
    again = _sink(receiver.url, tmp_path)
    again.submit(_alert(3))
    again.close()
    receiver.stop()
    assert [b["id"] for b in receiver.bodies()] == ["a0000", "a0001", "a0002", "a0003"]


def _bad_server(behaviour: str) -> tuple[int, threading.Event]:
    """A TCP server that accepts and then closes at once, or never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        held = []
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            if behaviour == "close":
                conn.close()
            else:
                held.append(conn)  # read nothing, answer nothing
        for conn in held:
            conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], stop


def test_closed_connections_and_timeouts_are_retried_then_spooled(tmp_path: Path) -> None:
    for behaviour in ("close", "hang"):
        port, stop = _bad_server(behaviour)
        sink = _sink(f"http://127.0.0.1:{port}/alerts", tmp_path / behaviour, timeout_s=0.2)
        sink.submit(_alert(1))
        sink.submit(_alert(2))
        deadline = time.monotonic() + 10
        while sink.stats()["spooled"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = sink.stats()
        assert stats["delivered"] == 0
        assert stats["failures"] >= 2
        assert stats["spooled"] >= 1
        sink.close(timeout_s=0.1)
        stop.set()
        spooled = (tmp_path / behaviour / "spool" / "hook.jsonl").read_text().splitlines()
        assert len(spooled) == 2
