"""The walking skeleton with real parts: Mosquitto, PostgreSQL, and `wangge edge` / `wangge gateway` processes.

Two brokers, as on a real site: the estate's own (sensors publish there) and the centre's (edges uplink there).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import (
    count,
    create_token,
    edge_yaml,
    gateway_yaml,
    sql,
    start_gateway,
    subscribe_ticket_created,
)
from tests.support import (
    Mosquitto,
    Process,
    http_json,
    http_text,
    metric_value,
    mqtt_publisher,
    running,
    start_service,
    wait_until,
    write_yaml,
)
from tests.test_alert_format import alert

pytestmark = pytest.mark.slow


def start_edge(tmp_path: Path, config: Path, name: str = "edge") -> tuple[Process, str]:
    proc, base = start_service(
        "edge",
        config,
        tmp_path / f"{name}.log",
        lambda base: bool(http_json(base + "/healthz")[1]["sensor_broker_connected"]),
        timeout=20,
    )
    time.sleep(0.3)  # the SUBACK follows the connect
    return proc, base


def edge_health(base: str) -> dict[str, Any]:
    return dict(http_json(base + "/healthz")[1])


def publish(client: Any, topic: str, payload: bytes | str) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(5)


def test_a_flooding_reading_becomes_a_ticket_and_bad_input_is_counted_not_fatal(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, estate_broker: Mosquitto
) -> None:
    gw_config = gateway_yaml(tmp_path, database_url, mosquitto.url)
    gateway, api = start_gateway(tmp_path, gw_config)
    token = create_token(gw_config)
    edge, edge_http = start_edge(tmp_path, edge_yaml(tmp_path, "e1", estate_broker.url, mosquitto.url))
    sensors = mqtt_publisher(estate_broker.url)
    with running(gateway, edge):
        topic = "estate/e1/underpass/gauge-1/level"
        for bad in (b"{not json", b'{"level_cm": NaN}', b'{"level_cm": "deep"}', b"x" * 10_000_000):
            publish(sensors, topic, bad)
        now = time.time() - 60  # sensor clocks: the payload's time is the reading's time
        for i, level in enumerate([5, 12, 22, 24, 25, 26]):
            publish(sensors, topic, json.dumps({"level_cm": level, "ts": now + i}))

        def tickets() -> list[dict[str, Any]]:
            return list(http_json(api + "/api/v1/tickets?state=open", token)[1]["items"])

        [ticket] = wait_until(tickets, 20, "the flood ticket")
        assert ticket["correlation_key"] == "e1/gauge-1/underpass-flooding"
        assert ticket["category"] == "emergencies.water_logging"
        assert (ticket["state"], ticket["alert_count"], ticket["active_alerts"]) == ("reported", 1, 1)
        status, detail = http_json(f"{api}/api/v1/tickets/{ticket['id']}", token)
        assert status == 200
        [a] = detail["alerts"]
        assert a["payload"]["value"] == 24  # 22 at now+2 began it; 24 at now+3 held it past for_s=1
        assert a["started_at"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(now + 2))))

        edge_metrics = http_text(edge_http + "/metrics")
        for reason in ("not_json", "not_finite", "wrong_type", "too_large"):
            assert metric_value(edge_metrics, "wangge_edge_readings_rejected_total", {"reason": reason}) == 1
        assert metric_value(edge_metrics, "wangge_edge_readings_total", {"metric": "water_level"}) == 6
        assert "rejected sensor message on 'estate/e1/underpass/gauge-1/level': too_large" in edge.log()
        frozen = wait_until(
            lambda: re.search(r"edge e1: (\d+) start-up objects kept out of the garbage collector", edge.log()),
            10,
            "the edge's start-up frozen",
        )
        assert int(frozen[1]) > 50_000  # its imports alone are ~107,000 (wangge/collector.py)

        # The level recedes: the end is recorded on the ticket, which stays open for a person to close.
        for i, level in enumerate([10, 9, 8]):
            publish(sensors, topic, json.dumps({"level_cm": level, "ts": now + 10 + i}))
        wait_until(
            lambda: count(database_url, "SELECT count(*) FROM alerts WHERE ended_at IS NOT NULL") == 1,
            20,
            "the alert's end",
        )
        [ticket] = tickets()
        assert ticket["active_alerts"] == 0 and ticket["closed_at"] is None

        # A malformed alert straight onto the centre's broker is dead-lettered and counted.
        central = mqtt_publisher(mosquitto.url)
        publish(central, "wangge/edge/e1/alerts", b'{"v": 1, "alert_id": "x"}')
        wait_until(lambda: count(database_url, "SELECT count(*) FROM dead_letters") == 1, 10, "the dead letter")
        [dead] = http_json(api + "/api/v1/dead-letters", token)[1]["items"]
        assert dead["reason"] == "schema" and "alert_id" in dead["detail"]
        gw_metrics = http_text(api + "/metrics")
        assert metric_value(gw_metrics, "wangge_gateway_alerts_rejected_total", {"reason": "schema"}) == 1
        assert metric_value(gw_metrics, "wangge_gateway_tickets_opened_total") == 1
        [edge_row] = http_json(api + "/api/v1/edges", token)[1]["items"]
        assert (edge_row["edge_id"], edge_row["state"]) == ("e1", "online")
        assert edge.terminate() == 0
        assert gateway.terminate() == 0
        wait_until(lambda: sql(database_url, "SELECT state FROM edges")[0][0] == "offline", 1, "offline status")


def test_the_same_alert_delivered_twice_is_one_alert_and_one_ticket(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto
) -> None:
    gateway, api = start_gateway(tmp_path, gateway_yaml(tmp_path, database_url, mosquitto.url))
    with running(gateway):
        central = mqtt_publisher(mosquitto.url)
        message = json.dumps(alert()).encode()
        publish(central, "wangge/edge/estate-1/alerts", message)
        publish(central, "wangge/edge/estate-1/alerts", message)
        wait_until(
            lambda: (
                metric_value(http_text(api + "/metrics"), "wangge_gateway_alert_events_total", {"outcome": "duplicate"})
                == 1
            ),
            10,
            "the duplicate to be seen",
        )
        assert count(database_url, "SELECT count(*) FROM alerts") == 1
        assert count(database_url, "SELECT count(*) FROM alert_events") == 1
        assert count(database_url, "SELECT count(*) FROM tickets") == 1


def test_edge_killed_after_the_outbox_write_before_the_ack_delivers_after_restart(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, estate_broker: Mosquitto
) -> None:
    gateway, _ = start_gateway(tmp_path, gateway_yaml(tmp_path, database_url, mosquitto.url))
    config = edge_yaml(tmp_path, "e1", estate_broker.url, mosquitto.url)
    edge, edge_http = start_edge(tmp_path, config)
    sensors = mqtt_publisher(estate_broker.url)
    with running(gateway, edge):
        wait_until(lambda: edge_health(edge_http)["uplink_connected"], 10, "uplink")
        mosquitto.pause()  # PUBLISH goes out, PUBACK never comes
        try:
            publish(sensors, "estate/e1/elevator/lift-3/fault", "1")
            wait_until(lambda: edge_health(edge_http)["outbox_depth"] == 1, 10, "the alert in the outbox")
            time.sleep(0.5)
            assert edge_health(edge_http)["outbox_depth"] == 1
            edge.kill()
        finally:
            mosquitto.resume()
        assert count(database_url, "SELECT count(*) FROM alerts") == 0 or True  # may or may not have landed yet
        edge2, edge_http2 = start_edge(tmp_path, config, "edge-restarted")
        with running(edge2):
            wait_until(lambda: edge_health(edge_http2)["outbox_depth"] == 0, 20, "the outbox to drain")
            wait_until(lambda: count(database_url, "SELECT count(*) FROM alerts") == 1, 10, "the alert")
            time.sleep(1.0)
            assert count(database_url, "SELECT count(*) FROM alerts") == 1
            assert count(database_url, "SELECT count(*) FROM tickets") == 1
            # The restarted edge remembers the alert is open: the fault clearing ends it, no new start.
            publish(sensors, "estate/e1/elevator/lift-3/fault", "1")
            publish(sensors, "estate/e1/elevator/lift-3/fault", "0")
            wait_until(lambda: count(database_url, "SELECT count(*) FROM alert_events") == 2, 10, "the end")
            assert count(database_url, "SELECT count(*) FROM alerts WHERE ended_at IS NOT NULL") == 1
            assert count(database_url, "SELECT count(*) FROM alerts") == 1


def test_central_broker_down_for_30s_queues_alerts_in_the_outbox_and_delivers_all(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, estate_broker: Mosquitto
) -> None:
    gateway, _ = start_gateway(tmp_path, gateway_yaml(tmp_path, database_url, mosquitto.url))
    edge, edge_http = start_edge(tmp_path, edge_yaml(tmp_path, "e1", estate_broker.url, mosquitto.url))
    sensors = mqtt_publisher(estate_broker.url)
    lifts = [f"lift-{i}" for i in range(5)]
    with running(gateway, edge):
        wait_until(lambda: edge_health(edge_http)["uplink_connected"], 10, "uplink")
        mosquitto.stop()
        stopped = time.monotonic()
        for state in ("1", "0"):
            for lift in lifts:
                publish(sensors, f"estate/e1/elevator/{lift}/fault", state)
        wait_until(lambda: edge_health(edge_http)["outbox_depth"] == 10, 10, "10 events queued")
        while time.monotonic() - stopped < 30:
            assert not edge_health(edge_http)["uplink_connected"]
            time.sleep(1)
        assert edge_health(edge_http)["outbox_depth"] == 10
        mosquitto.start()
        wait_until(lambda: count(database_url, "SELECT count(*) FROM alert_events") == 10, 40, "all 10 events")
        wait_until(lambda: edge_health(edge_http)["outbox_depth"] == 0, 10, "the outbox to drain")
        assert count(database_url, "SELECT count(*) FROM alerts WHERE ended_at IS NOT NULL") == 5
        assert count(database_url, "SELECT count(*) FROM tickets") == 5


def test_gateway_killed_and_restarted_while_alerts_flow_loses_and_doubles_nothing(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto
) -> None:
    # These publishers do not re-send unconfirmed alerts as edges do: the broker's persistent session for
    # the gateway must hold what arrives while it is down.
    config = gateway_yaml(tmp_path, database_url, mosquitto.url)
    data = yaml.safe_load(config.read_text())
    data["mqtt"]["persistent_session"] = True
    write_yaml(config, data)
    gateway, _ = start_gateway(tmp_path, config)
    total, keys = 3000, 20
    messages = [
        json.dumps(alert(alert_id=str(uuid.uuid4()), source={"kind": "sensor", "device_id": f"d{i % keys}"})).encode()
        for i in range(total)
    ]
    central = mqtt_publisher(mosquitto.url)
    sent: list[Any] = []

    def produce() -> None:
        for i, message in enumerate(messages):
            sent.append(central.publish("wangge/edge/estate-1/alerts", message, qos=1))
            if i % 100 == 99:
                time.sleep(0.05)

    producer = threading.Thread(target=produce)
    with running(gateway):
        producer.start()
        wait_until(lambda: count(database_url, "SELECT count(*) FROM alert_events") > 300, 20, "the flow to start")
        gateway.kill()
        landed_before_restart = count(database_url, "SELECT count(*) FROM alert_events")
        time.sleep(1)
        gateway2, _ = start_gateway(tmp_path, config)
        with running(gateway2):
            producer.join(60)
            for info in sent:
                info.wait_for_publish(10)
            wait_until(
                lambda: count(database_url, "SELECT count(*) FROM alert_events") == total, 60, f"all {total} events"
            )
            time.sleep(1)
    assert 0 < landed_before_restart < total
    assert count(database_url, "SELECT count(*) FROM alert_events") == total
    assert count(database_url, "SELECT count(*) FROM alerts") == total
    assert count(database_url, "SELECT count(*) FROM tickets") == keys
    assert count(database_url, "SELECT sum(alert_count) FROM tickets") == total
    assert count(database_url, "SELECT count(*) FROM dead_letters") == 0


def test_a_bad_config_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "edge.yaml"
    bad.write_text("edge_id: e1\nsensor_broker: mqtt://127.0.0.1:1\nuplink: {broker: nope}\n")
    result = subprocess.run(
        [sys.executable, "-m", "wangge", "edge", "--config", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "uplink.broker: broker URL must start with mqtt:// or mqtts://, got 'nope'" in result.stderr
    assert not (tmp_path / "var").exists()


def test_an_alert_the_database_refuses_is_dead_lettered_and_the_rest_of_its_batch_is_kept(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto
) -> None:
    gateway, api = start_gateway(tmp_path, gateway_yaml(tmp_path, database_url, mosquitto.url))
    with running(gateway):
        # A rule of this database that the wire format does not know: the database itself refuses the row
        # (SQLSTATE 23514), which is what an alert the gateway's own checks let through would meet.
        sql(database_url, "ALTER TABLE tickets ADD CONSTRAINT site_rule CHECK (title <> 'forbidden here')")
        central = mqtt_publisher(mosquitto.url)
        confirms: list[bytes] = []
        central.message_callback_add("wangge/edge/estate-1/confirms", lambda c, u, m: confirms.append(m.payload))
        central.subscribe("wangge/edge/estate-1/confirms", qos=1)
        time.sleep(0.3)
        bad = alert(title="forbidden here", rule_id="third")
        good = [alert(), alert(rule_id="other")]
        for message in (good[0], bad, good[1]):
            central.publish("wangge/edge/estate-1/alerts", json.dumps(message).encode(), qos=1)
        wait_until(lambda: count(database_url, "SELECT count(*) FROM dead_letters") == 1, 10, "the dead letter")
        wait_until(lambda: count(database_url, "SELECT count(*) FROM alerts") == 2, 10, "the good alerts")
        [row] = sql(database_url, "SELECT reason, detail FROM dead_letters")
        assert row["reason"] == "database_rejected" and "site_rule" in row["detail"]
        wait_until(lambda: any(bad["alert_id"] in c.decode() for c in confirms), 10, "the refusal")
        refused = [k for c in confirms for k in json.loads(c)["refused"]]
        stored = [k for c in confirms for k in json.loads(c)["stored"]]
        assert refused == [f"{bad['alert_id']}:0"]
        assert sorted(stored) == sorted(f"{g['alert_id']}:0" for g in good)
        assert (
            metric_value(
                http_text(api + "/metrics"), "wangge_gateway_alerts_rejected_total", {"reason": "database_rejected"}
            )
            == 1
        )


def test_a_database_restart_delays_alerts_but_loses_none(tmp_path: Path, mosquitto: Mosquitto) -> None:
    from wangge.gateway.storage.embedded import EmbeddedPostgres

    pg_dir = tmp_path / "own-pg"
    postgres = EmbeddedPostgres(pg_dir)
    url = postgres.url
    gateway, api = start_gateway(tmp_path, gateway_yaml(tmp_path, url, mosquitto.url))
    try:
        with running(gateway):
            central = mqtt_publisher(mosquitto.url)
            publish(central, "wangge/edge/estate-1/alerts", json.dumps(alert()).encode())
            wait_until(lambda: count(url, "SELECT count(*) FROM alerts") == 1, 10, "the first alert")
            postgres.stop()
            wait_until(lambda: http_json(api + "/readyz")[0] == 503, 10, "readyz to report the database")
            assert http_json(api + "/readyz")[1]["checks"]["database"] is False
            for _ in range(20):
                publish(central, "wangge/edge/estate-1/alerts", json.dumps(alert()).encode())
            time.sleep(2)
            postgres = EmbeddedPostgres(pg_dir)
            wait_until(lambda: count(url, "SELECT count(*) FROM alerts") == 21, 30, "all 21 alerts")
            wait_until(lambda: http_json(api + "/readyz")[0] == 200, 10, "readyz to recover")
            assert metric_value(http_text(api + "/metrics"), "wangge_gateway_ingest_retries_total") >= 1
            assert "storing" in gateway.log() and "retrying" in gateway.log()
    finally:
        postgres.stop()


def test_two_gateways_receiving_the_same_alerts_make_one_ticket(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto
) -> None:
    """Both replicas get every message (no shared subscription): the database alone keeps it to one."""
    configs = []
    for name in ("gw-a", "gw-b"):
        config = gateway_yaml(tmp_path, database_url, mosquitto.url, name)
        data = yaml.safe_load(config.read_text())
        data["mqtt"]["shared_group"] = None
        configs.append(write_yaml(config, data))
    gateway_a, _ = start_gateway(tmp_path, configs[0])
    gateway_b, _ = start_gateway(tmp_path, configs[1])
    with running(gateway_a, gateway_b):
        central = mqtt_publisher(mosquitto.url)
        messages = [json.dumps(alert()).encode() for _ in range(50)]  # 50 alerts, one correlation key
        for message in messages:
            central.publish("wangge/edge/estate-1/alerts", message, qos=1)
            time.sleep(0.001)
        wait_until(lambda: count(database_url, "SELECT count(*) FROM alerts") == 50, 20, "50 alerts")
        time.sleep(1)
        assert count(database_url, "SELECT count(*) FROM tickets") == 1
        assert count(database_url, "SELECT alert_count FROM tickets") == 50
        assert count(database_url, "SELECT count(*) FROM alert_events") == 50


def test_gateway_killed_mid_delivery_delivers_the_webhook_afterwards(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto
) -> None:
    import asyncio

    from aiohttp import web

    from tests.gateway.receivers import Received, Receiver

    release = threading.Event()

    async def respond(r: Received, n: int) -> web.Response:
        if n == 1:  # the first request hangs until the gateway that sent it is dead
            while not release.is_set():
                await asyncio.sleep(0.05)
        return web.Response(status=200)

    receiver = Receiver(respond=respond)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(receiver.start(), loop).result(10)
    config = gateway_yaml(
        tmp_path,
        database_url,
        mosquitto.url,
        webhooks={
            "allow_networks": ["127.0.0.1/32"],
            "lease_s": 2,
            "poll_s": 0.1,
            "read_timeout_s": 60,
            "retry_schedule": ["200ms", "500ms"],
        },
    )
    gateway, api = start_gateway(tmp_path, config)
    subscribe_ticket_created(api, config, receiver.url)
    try:
        with running(gateway):
            central = mqtt_publisher(mosquitto.url)
            publish(central, "wangge/edge/estate-1/alerts", json.dumps(alert()).encode())
            wait_until(lambda: len(receiver.requests) == 1, 10, "the first, hanging, request")
            gateway.kill()
        release.set()
        gateway2, _ = start_gateway(tmp_path, config)
        with running(gateway2):
            wait_until(
                lambda: sql(database_url, "SELECT state FROM webhook_deliveries")[0][0] == "delivered",
                20,
                "the delivery after the restart",
            )
            time.sleep(1)
        [first, second] = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        [row] = sql(database_url, "SELECT state, attempts FROM webhook_deliveries")
        assert (row["state"], row["attempts"]) == ("delivered", 2)
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)


def test_json_logs_carry_request_and_alert_ids(tmp_path: Path, database_url: str, mosquitto: Mosquitto) -> None:
    config = gateway_yaml(tmp_path, database_url, mosquitto.url)
    gateway, api = start_gateway(tmp_path, config, env={"WANGGE_LOG_FORMAT": "json"})
    with running(gateway):
        bad = alert(v=2)
        publish(mqtt_publisher(mosquitto.url), "wangge/edge/estate-1/alerts", json.dumps(bad).encode())
        wait_until(lambda: count(database_url, "SELECT count(*) FROM dead_letters") == 1, 10, "the dead letter")
        request = urllib.request.Request(api + "/api/v1/tickets", headers={"X-Request-Id": "req-42"})
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as err:
            assert err.code == 401 and err.headers["X-Request-Id"] == "req-42"
        time.sleep(0.5)
    lines = [json.loads(line) for line in gateway.log().splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    [rejected] = [line for line in lines if line.get("reason") == "schema"]
    assert rejected["alert_id"] == bad["alert_id"] and rejected["edge_id"] == "estate-1"
    [access] = [line for line in lines if line.get("request_id") == "req-42"]
    assert (access["path"], access["status"]) == ("/api/v1/tickets", 401)
