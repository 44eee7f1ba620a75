"""A database error that is not about the data (a full disk, a cancelled statement) refuses nothing: the
batch waits and is stored once PostgreSQL recovers, and no edge is told to drop an event."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import count, gateway_yaml, sql, start_gateway
from tests.support import Mosquitto, http_text, metric_value, mqtt_publisher, running, wait_until
from tests.test_alert_format import alert

CHAOS = [
    "CREATE TABLE chaos (failing boolean NOT NULL)",
    "INSERT INTO chaos VALUES (true)",
    """CREATE FUNCTION chaos() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT failing FROM chaos) THEN
        RAISE EXCEPTION 'simulated: %', TG_ARGV[0] USING ERRCODE = TG_ARGV[1];
    END IF;
    RETURN NEW;
END $$""",
]


@pytest.mark.parametrize(
    ("what", "sqlstate"),
    [
        ("could not extend file: No space left on device", "53100"),
        ("canceling statement due to statement timeout", "57014"),
    ],
)
def test_an_infrastructure_error_is_retried_and_nothing_is_refused(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, what: str, sqlstate: str
) -> None:
    gateway, api = start_gateway(tmp_path, gateway_yaml(tmp_path, database_url, mosquitto.url))
    with running(gateway):
        for statement in CHAOS:
            sql(database_url, statement)
        trigger = f"EXECUTE FUNCTION chaos('{what}', '{sqlstate}')"
        sql(database_url, f"CREATE TRIGGER chaos BEFORE INSERT ON alert_events FOR EACH ROW {trigger}")
        central = mqtt_publisher(mosquitto.url)
        confirms: list[dict[str, Any]] = []
        lock = threading.Lock()

        def on_confirm(client: Any, userdata: Any, msg: Any) -> None:
            with lock:
                confirms.append(json.loads(msg.payload))

        central.message_callback_add("wangge/edge/estate-1/confirms", on_confirm)
        central.subscribe("wangge/edge/estate-1/confirms", qos=1)
        time.sleep(0.3)
        sent = [alert(rule_id=f"rule-{i}") for i in range(5)]
        for message in sent:
            central.publish("wangge/edge/estate-1/alerts", json.dumps(message).encode(), qos=1).wait_for_publish(5)
        wait_until(
            lambda: metric_value(http_text(api + "/metrics"), "wangge_gateway_ingest_retries_total") >= 3,
            20,
            "the batch retried",
        )
        assert count(database_url, "SELECT count(*) FROM alerts") == 0
        assert count(database_url, "SELECT count(*) FROM dead_letters") == 0
        with lock:
            assert confirms == []  # neither stored nor refused: the edges keep their events
        sql(database_url, "UPDATE chaos SET failing = false")
        wait_until(lambda: count(database_url, "SELECT count(*) FROM alerts") == 5, 20, "the batch stored")
        expected = sorted(f"{m['alert_id']}:0" for m in sent)
        wait_until(lambda: sorted(k for c in list(confirms) for k in c["stored"]) == expected, 10, "confirmations")
        with lock:
            assert [k for c in confirms for k in c["refused"]] == []
        assert count(database_url, "SELECT count(*) FROM dead_letters") == 0
        metrics = http_text(api + "/metrics")
        assert metric_value(metrics, "wangge_gateway_alerts_rejected_total", {"reason": "database_rejected"}) == 0
        central.loop_stop()
