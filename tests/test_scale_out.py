"""Gateway replicas sharing one Mosquitto and one PostgreSQL, one of them killed in the middle of a burst.

50 edges (the edge's own outbox and uplink code, each with its SQLite outbox) send 20,000 alerts through the
shared subscription; a replica is SIGKILLed while they flow and never comes back. What it had taken but not
confirmed is re-sent by the edges and stored by the others: every alert once, the tickets exact, one webhook
message per ticket created.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bench.alert_ingest import make_alert, write
from tests.conftest import count, gateway_yaml, start_gateway, subscribe_ticket_created
from tests.gateway.receivers import Receiver
from tests.support import Mosquitto, Process, running, wait_until
from wangge.edge.outbox import Outbox
from wangge.edge.uplink import Uplink
from wangge.mqtt import parse_broker_url

pytestmark = pytest.mark.slow

EDGES, PER_EDGE, DEVICES = 50, 400, 10  # 20,000 alerts, 500 correlation keys (edge x device)


def fill(outbox: Outbox, edge_id: str) -> None:
    now = time.time()
    for i in range(PER_EDGE):
        write(outbox, make_alert(edge_id, i % DEVICES, now))


@pytest.mark.parametrize("replicas", [2, 3])
def test_a_burst_from_50_edges_survives_a_replica_killed_mid_burst(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, replicas: int
) -> None:
    total = EDGES * PER_EDGE
    receiver = Receiver()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(receiver.start(), loop).result(10)
    webhooks = {"allow_networks": ["127.0.0.1/32"], "poll_s": 0.1, "lease_s": 5}
    configs = [
        gateway_yaml(tmp_path, database_url, mosquitto.url, f"gw{i}", webhooks=webhooks) for i in range(replicas)
    ]
    gateways: list[Process] = []
    edges: list[tuple[Outbox, Uplink]] = []
    try:
        for config in configs:
            gateways.append(start_gateway(tmp_path, config)[0])
        subscribe_ticket_created("http://" + yaml.safe_load(configs[1].read_text())["http"], configs[1], receiver.url)

        broker = parse_broker_url(mosquitto.url)
        for e in range(EDGES):
            edge_id = f"estate-{e:02d}"
            outbox = Outbox(tmp_path / f"outbox-{edge_id}.sqlite3")
            fill(outbox, edge_id)
            edges.append((outbox, Uplink(edge_id, outbox, broker, edge_id, max_inflight=100, confirm_timeout_s=3)))
        with running(*gateways[1:]):
            for _, uplink in edges:
                uplink.start()
            wait_until(lambda: count(database_url, "SELECT count(*) FROM alert_events") > total // 4, 60, "the burst")
            gateways[0].kill()
            killed_at = count(database_url, "SELECT count(*) FROM alert_events")
            wait_until(
                lambda: count(database_url, "SELECT count(*) FROM alert_events") == total, 120, f"{total} events"
            )
            wait_until(lambda: all(o.depth == 0 for o, _ in edges), 60, "every outbox confirmed and empty")
            wait_until(
                lambda: (
                    count(database_url, "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
                    == EDGES * DEVICES
                ),
                60,
                "every webhook delivered",
            )
            time.sleep(1)  # anything still to come (a duplicate) would arrive now
        assert killed_at < total
        assert count(database_url, "SELECT count(*) FROM alert_events") == total
        assert count(database_url, "SELECT count(*) FROM alerts") == total
        assert count(database_url, "SELECT count(*) FROM tickets") == EDGES * DEVICES
        assert count(database_url, f"SELECT count(*) FROM tickets WHERE alert_count <> {PER_EDGE // DEVICES}") == 0
        assert count(database_url, "SELECT count(DISTINCT correlation_key) FROM tickets") == EDGES * DEVICES
        assert count(database_url, "SELECT count(*) FROM dead_letters") == 0
        assert count(database_url, "SELECT count(*) FROM webhook_deliveries") == EDGES * DEVICES

        ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
        tickets = Counter(r.json()["data"]["ticket"]["id"] for r in receiver.requests)
        assert len(ids) == EDGES * DEVICES and len(tickets) == EDGES * DEVICES
        # At-least-once: only a request the killed replica had in flight may come again, and then with the
        # same webhook-id, so the receiver drops it; never a second message for the same ticket.
        repeats = sum(n - 1 for n in ids.values())
        assert repeats == sum(n - 1 for n in tickets.values())
        assert repeats <= 32, f"{repeats} repeated webhook messages"
    finally:
        for _, uplink in edges:
            uplink.stop()
        for gateway in gateways:
            gateway.terminate()
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
