"""The demo's in-process broker has the shipped boundary: no anonymous client, one identity per part, and the
ACL rules on every central topic (the same decisions EMQX gets from the gateway)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import free_port, wait_until
from wangge.demo.broker import DemoIdentities, EmbeddedBroker
from wangge.gateway.accounts.broker import GATEWAY_USER
from wangge.mqtt import make_client, parse_broker_url


@pytest.fixture
def demo_broker() -> Iterator[tuple[int, DemoIdentities]]:
    port = free_port()
    identities = DemoIdentities(edge_id="demo-estate")
    broker = EmbeddedBroker(f"127.0.0.1:{port}", identities)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(10)
    yield port, identities
    asyncio.run_coroutine_threadsafe(broker.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


class Client:
    def __init__(self, port: int, user: str | None = None, password: str | None = None) -> None:
        auth = f"{user}:{password}@" if user else ""
        address = parse_broker_url(f"mqtt://{auth}127.0.0.1:{port}")
        self.client = make_client(address, f"t-{user}-{time.time_ns()}")
        self.result: list[bool] = []
        self.granted: list[bool] = []
        self.received: list[str] = []
        self.client.on_connect = lambda c, u, f, reason, p: self.result.append(not reason.is_failure)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.extend(not x.is_failure for x in codes)
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        wait_until(lambda: self.result or None, 10, "the CONNACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_the_demo_broker_refuses_strangers_and_keeps_each_identity_to_its_topics(
    demo_broker: tuple[int, DemoIdentities],
) -> None:
    port, ids = demo_broker
    clients: list[Any] = []
    try:
        for user, password in ((None, None), ("demo-estate", "wrong"), ("someone", ids.edge)):
            stranger = Client(port, user, password)
            clients.append(stranger)
            assert stranger.result == [False], user
        gateway = Client(port, GATEWAY_USER, ids.gateway)
        edge = Client(port, "demo-estate", ids.edge)
        sensors = Client(port, ids.sensors_user, ids.sensors)
        clients += [gateway, edge, sensors]
        assert gateway.result == edge.result == sensors.result == [True]
        gateway.client.subscribe("wangge/edge/+/alerts", qos=1)
        edge.client.subscribe("wangge/edge/demo-estate/confirms", qos=1)
        edge.client.subscribe("estate/demo-estate/#", qos=1)
        sensors.client.subscribe("wangge/edge/+/alerts", qos=1)  # not for the sensors
        wait_until(lambda: len(gateway.granted) + len(edge.granted) + len(sensors.granted) == 4 or None, 10, "SUBACKs")
        assert gateway.granted == [True] and edge.granted == [True, True] and sensors.granted == [False]

        sensors.client.publish("wangge/edge/demo-estate/alerts", b"{}", qos=1).wait_for_publish(5)  # refused
        edge.client.publish("wangge/edge/other-estate/alerts", b"{}", qos=1).wait_for_publish(5)  # refused
        gateway.client.publish("wangge/edge/demo-estate/confirms", b"{}", qos=1).wait_for_publish(5)
        sensors.client.publish("estate/demo-estate/underpass/g1/level", b"{}", qos=1).wait_for_publish(5)
        edge.client.publish("wangge/edge/demo-estate/alerts", b"{}", qos=1).wait_for_publish(5)
        wait_until(lambda: gateway.received or None, 10, "the edge's own alert at the gateway")
        wait_until(lambda: len(edge.received) == 2 or None, 10, "the confirm and the sensor reading at the edge")
        time.sleep(0.5)
        assert gateway.received == ["wangge/edge/demo-estate/alerts"]
        assert sorted(edge.received) == ["estate/demo-estate/underpass/g1/level", "wangge/edge/demo-estate/confirms"]
    finally:
        for c in clients:
            c.close()


def test_a_client_subscribing_during_a_stream_costs_no_other_subscriber_a_message(
    demo_broker: tuple[int, DemoIdentities],
) -> None:
    """On amqtt 0.12.1's own table the later subscription lost 84–96 of these 1,500 messages, unseen by either side."""
    port, ids = demo_broker
    first = Client(port, ids.sensors_user, ids.sensors)  # its filter comes first in the broker's walk
    later = Client(port, ids.sensors_user, ids.sensors)
    churner = Client(port, ids.sensors_user, ids.sensors)
    publisher = Client(port, "demo-estate", ids.edge)
    clients = [first, later, churner, publisher]
    try:
        payloads: dict[Client, list[int]] = {first: [], later: []}
        for c in (first, later):
            c.client.on_message = lambda _c, _u, m, into=payloads[c]: into.append(int(m.payload))
        first.client.subscribe("estate/+/level", qos=1)
        later.client.subscribe("estate/demo-estate/#", qos=1)
        wait_until(lambda: (first.granted and later.granted) or None, 10, "both SUBACKs")

        def subscribe_meanwhile() -> None:
            for i in range(200):
                churner.client.subscribe(f"estate/elsewhere/{i}", qos=1)
                time.sleep(0.002)

        churn = threading.Thread(target=subscribe_meanwhile)
        churn.start()
        sent = [publisher.client.publish("estate/demo-estate/level", str(i).encode(), qos=1) for i in range(1500)]
        for info in sent:
            info.wait_for_publish(30)
        churn.join(30)
        wait_until(lambda: len(churner.granted) == 200 or None, 20, "every churned SUBACK")
        deadline = time.monotonic() + 10  # not wait_until: a shortfall should fail below, showing what was lost
        while len(payloads[later]) < 1500 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        assert sorted(payloads[first]) == sorted(payloads[later]) == list(range(1500))  # none lost, none doubled
    finally:
        for c in clients:
            c.close()
