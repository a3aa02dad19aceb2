"""MQTT delivery against a real mosquitto broker: Frigate-style topics, a broker that is down
at start, and one that goes away and comes back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.delivery import MqttSink
from alerts.schema import Alert
from tests.support import MqttBroker, TcpProxy, free_port


def _alert(n: int, camera: str = "gate") -> Alert:
    return Alert(f"a{n}", "escape", "critical", camera, float(n), n, "AB123CD", {"id": f"s{n}"}, {})


class Listener:
    """A subscriber that records (topic, payload) pairs; reconnects on its own."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{port}-{time.time()}")
        self.client.on_connect = lambda c, *_: (c.subscribe(topic, qos=1), self.ready.set())
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload.decode()))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def wait(self, count: int, timeout_s: float = 10.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.messages) < count:
            time.sleep(0.02)
        return len(self.messages) >= count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker() -> Iterator[MqttBroker]:
    server = MqttBroker(free_port()).start()
    yield server
    server.stop()


def test_alerts_go_to_frigate_style_topics(broker: MqttBroker) -> None:
    listener = Listener(broker.port, "rw/#")
    assert listener.ready.wait(5)
    sink = MqttSink("127.0.0.1", broker.port, prefix="rw", client_id="t1")
    sink.submit(_alert(1, camera="exit"))
    assert listener.wait(3)
    sink.close()
    listener.close()
    topics = [t for t, _ in listener.messages]
    assert "rw/alerts" in topics
    assert "rw/exit/alerts" in topics
    assert ("rw/available", "online") in listener.messages
    payload = json.loads(next(p for t, p in listener.messages if t == "rw/alerts"))
    assert payload["type"] == "new"
    assert payload["after"]["id"] == "a1"
    assert payload["after"]["kind"] == "escape"
    assert sink.stats()["delivered"] == 1


def test_a_broker_down_at_start_gets_the_alerts_once_it_is_up(broker: MqttBroker) -> None:
    listener = Listener(broker.port, "rw/alerts")
    assert listener.ready.wait(5)
    proxy = TcpProxy(broker.port)  # not listening yet: the broker is down, as the sink sees it
    sink = MqttSink("127.0.0.1", proxy.port, prefix="rw", client_id="t2")
    for n in range(3):
        sink.submit(_alert(n))
    time.sleep(0.5)
    assert sink.stats()["waiting"] == 3
    proxy.start()
    try:
        assert listener.wait(3, timeout_s=30)  # paho reconnects within its backoff (<= 10 s)
        ids = [json.loads(p)["after"]["id"] for _, p in listener.messages]
        assert ids[:3] == ["a0", "a1", "a2"]
        sink.close()
        listener.close()
    finally:
        proxy.stop()


def test_a_broker_that_goes_away_and_returns_loses_nothing(broker: MqttBroker) -> None:
    proxy = TcpProxy(broker.port).start()  # the sink's way to the broker, which the test cuts
    sink = MqttSink("127.0.0.1", proxy.port, prefix="rw", client_id="t3")
    listener = Listener(broker.port, "rw/alerts")  # stays connected to the broker itself
    assert listener.ready.wait(5)
    sink.submit(_alert(1))
    assert listener.wait(1)
    proxy.stop()
    sink.submit(_alert(2))
    sink.submit(_alert(3))
    time.sleep(0.5)
    proxy.start()
    assert listener.wait(3, timeout_s=30)
    sink.close()
    listener.close()
    proxy.stop()
    ids = [json.loads(p)["after"]["id"] for _, p in listener.messages]
    assert set(ids) == {"a1", "a2", "a3"}
    assert ids.index("a2") < ids.index("a3")
