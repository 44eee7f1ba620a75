"""Hostile input at the gateway's MQTT boundary, through a real Mosquitto into a real `wangge gateway` process
and PostgreSQL: arbitrary JSON in every field of alerts and statuses, mixed with valid alerts.

Every alert message must end exactly one way (stored as one event, or dead-lettered with a reason), every valid
one is stored and confirmed, ingest stays ready throughout, and no partition exists outside the accepted window.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import count, gateway_yaml, sql, start_gateway
from tests.support import Mosquitto, http_json, http_text, metric_value, mqtt_publisher, running, wait_until
from wangge import alert_format

EDGE = "fuzz-edge"
FIELDS = [
    "v", "event", "edge_id", "source", "rule_id", "correlation_key", "category", "severity", "title",
    "started_at", "ended_at", "emitted_at", "value", "unit", "threshold", "attributes",
]  # fmt: skip
# alert_id, seq and at stay as made, so that each message is at most one stored event.

text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)  # NUL, lone surrogates
times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)).map(
    lambda d: d.isoformat().replace("+00:00", "Z")
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    times,
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=8
)


def valid_alert(now: datetime) -> dict[str, Any]:
    at = alert_format.iso(now.timestamp())
    return {
        "v": 1,
        "alert_id": str(uuid.uuid4()),
        "seq": 0,
        "event": "start",
        "edge_id": EDGE,
        "source": {"kind": "sensor", "device_id": "gauge-1", "metric": "water_level"},
        "rule_id": "flood",
        "category": "emergencies.water_logging",
        "severity": "major",
        "title": "Water",
        "started_at": at,
        "at": at,
        "emitted_at": at,
        "value": 23.5,
    }


def _encode(message: Any) -> bytes:
    """As a hostile client would send it: surrogates escaped, huge integers written out."""
    return json.dumps(message, ensure_ascii=True).encode()


@st.composite
def messages(draw: st.DrawFn) -> list[tuple[str, bytes, bool]]:
    """(topic, payload, known valid) — valid alerts, alerts with one field replaced, statuses of any shape."""
    now = datetime.now(UTC)
    out: list[tuple[str, bytes, bool]] = []
    for _ in range(draw(st.integers(min_value=40, max_value=60))):
        kind = draw(st.sampled_from(["valid", "field", "field", "bytes", "status"]))
        if kind == "valid":
            out.append((f"wangge/edge/{EDGE}/alerts", _encode(valid_alert(now)), True))
        elif kind == "field":
            message = valid_alert(now)
            message[draw(st.sampled_from(FIELDS))] = draw(json_values)
            out.append((f"wangge/edge/{EDGE}/alerts", _encode(message), False))
        elif kind == "bytes":
            out.append((f"wangge/edge/{EDGE}/alerts", draw(st.binary(max_size=200)), False))
        else:
            status = draw(st.one_of(json_values, st.dictionaries(text, json_values, max_size=6)))
            out.append((f"wangge/edge/{EDGE}/status", _encode(status), False))
    return out


def test_hostile_messages_never_stop_ingest_and_every_alert_ends_exactly_one_way(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto
) -> None:
    config = gateway_yaml(
        tmp_path, database_url, mosquitto.url, ingest={"max_event_age_days": 30, "max_clock_ahead_s": 300}
    )
    gateway, api = start_gateway(tmp_path, config)
    publisher = mqtt_publisher(mosquitto.url)
    confirmed: dict[str, str] = {}
    lock = threading.Lock()

    def on_confirm(client: Any, userdata: Any, msg: Any) -> None:
        body = json.loads(msg.payload)
        with lock:
            confirmed.update({k: "stored" for k in body["stored"]} | {k: "refused" for k in body["refused"]})

    publisher.message_callback_add(f"wangge/edge/{EDGE}/confirms", on_confirm)
    publisher.subscribe(f"wangge/edge/{EDGE}/confirms", qos=1)
    not_ready: list[int] = []
    stop = threading.Event()

    def watch_readiness() -> None:
        while not stop.is_set():
            status, _ = http_json(api + "/readyz")
            if status != 200:
                not_ready.append(status)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_readiness, daemon=True)
    totals = {"alerts": 0, "valid": 0}

    # No shrinking: each example goes through real processes; a failure names its messages in the assertion.
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        phases=(Phase.generate,),
    )
    @given(messages())
    def round_of(batch: list[tuple[str, bytes, bool]]) -> None:
        before = count(database_url, "SELECT count(*) FROM alert_events") + count(
            database_url, "SELECT count(*) FROM dead_letters WHERE source LIKE '%/alerts'"
        )
        valid_keys = []
        for topic, payload, valid in batch:
            publisher.publish(topic, payload, qos=1).wait_for_publish(5)
            if valid:
                valid_keys.append(f"{json.loads(payload)['alert_id']}:0")
        alerts = sum(1 for topic, _, _ in batch if topic.endswith("/alerts"))
        totals["alerts"] += alerts
        totals["valid"] += len(valid_keys)

        def settled() -> bool:
            done = count(database_url, "SELECT count(*) FROM alert_events") + count(
                database_url, "SELECT count(*) FROM dead_letters WHERE source LIKE '%/alerts'"
            )
            return done - before == alerts

        wait_until(settled, 60, "every alert message stored or dead-lettered")
        with lock:
            assert all(confirmed.get(k) == "stored" for k in valid_keys)

    with running(gateway):
        wait_until(lambda: http_json(api + "/readyz")[0] == 200, 30, "the gateway ready")
        watcher.start()
        try:
            round_of()
        finally:
            stop.set()
        final = {"state": "online", "edge_id": EDGE, "readings": 5}
        publisher.publish(f"wangge/edge/{EDGE}/status", json.dumps(final).encode(), qos=1).wait_for_publish(5)

        def last_status() -> Any:
            rows = sql(database_url, "SELECT status FROM edges WHERE edge_id = $1", EDGE)
            return json.loads(rows[0]["status"]) if rows else None

        wait_until(lambda: last_status() == final, 20, "the last valid status")
        stop.set()
        watcher.join(5)
        metrics = http_text(api + "/metrics")
    publisher.loop_stop()

    assert not_ready == [], "ingest stopped being ready while hostile messages flowed"
    assert totals["alerts"] >= 800 and totals["valid"] >= 100
    stored = count(database_url, "SELECT count(*) FROM alert_events")
    dead = count(database_url, "SELECT count(*) FROM dead_letters WHERE source LIKE '%/alerts'")
    assert stored + dead == totals["alerts"]
    assert stored >= totals["valid"]
    assert (
        count(database_url, "SELECT count(*) FROM (SELECT alert_id FROM alert_events GROUP BY 1 HAVING count(*) > 1) d")
        == 0
    )
    reasons = sql(database_url, "SELECT reason, count(*) AS n FROM dead_letters GROUP BY 1")
    assert {r["reason"] for r in reasons} <= {
        "not_json", "schema", "bad_value", "time_order", "time_window", "edge_mismatch", "too_large", "bad_status",
    }  # fmt: skip
    assert "database_rejected" not in {r["reason"] for r in reasons}  # nothing reached PostgreSQL unchecked
    for r in reasons:
        assert metric_value(metrics, "wangge_gateway_alerts_rejected_total", {"reason": r["reason"]}) == r["n"]
    assert metric_value(metrics, "wangge_gateway_ingest_crashes_total") == 0
    now = datetime.now(UTC)
    for table in ("alerts", "alert_events"):
        for part in sql(database_url, "SELECT lower_bound, upper_bound FROM wangge_partitions($1)", table):
            assert part["upper_bound"] > now - timedelta(days=62) and part["lower_bound"] < now + timedelta(days=62)
