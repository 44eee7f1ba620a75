"""No input crashes the ingest loop: every payload parses or is rejected with a PayloadError and a reason."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from tests.edge.harness import Harness, edge_config
from wangge.edge.payloads import Parsed, PayloadError

SENSORS = [
    {
        "topic": "j/+device",
        "device": "{device}",
        "timestamp_pointer": "/ts",
        "metrics": [{"name": "water_level", "pointer": "/a/b"}],
        "profile": "water_level",
    },
    {
        "topic": "p/+device",
        "device": "{device}",
        "format": "plain",
        "metrics": [{"name": "smoke"}],
        "profile": "smoke_detector",
    },
    {"topic": "z/+device", "device": "{device}", "format": "zigbee2mqtt", "profile": "access_door"},
    {"topic": "t/+device/SENSOR", "device": "{device}", "format": "tasmota"},
    {
        "topic": "h/+device/state",
        "device": "{device}",
        "format": "homeassistant",
        "profile": "gas_detector",
        "rename": {"state": "gas_lel"},
    },
    {"topic": "spBv1.0/+group/#", "device": "{node}.{device}", "format": "sparkplug_b", "profile": "water_level"},
]
AVAILABILITY = [{"topic": "a/+device/status", "device": "{device}"}]
TOPICS = [
    "j/g1",
    "p/s1",
    "z/door",
    "t/plug/SENSOR",
    "h/gas/state",
    "a/g1/status",
    "spBv1.0/e/NBIRTH/n",
    "spBv1.0/e/DDATA/n/d",
    "spBv1.0/e/NDEATH/n",
    "spBv1.0/e/DBIRTH/n/d",
    "unknown/x",
    "j/bad id!",
    "j/",
]
DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["ON", "off", "open", "NaN", "1e999", "-0", "2026-11-23T08:00:00Z"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)
keyed = st.fixed_dictionaries(
    {},
    optional={
        "a": st.fixed_dictionaries({}, optional={"b": json_values}),
        "ts": json_values,
        "contact": json_values,
        "battery": json_values,
        "last_seen": json_values,
        "AM2301": st.dictionaries(st.sampled_from(["Temperature", "Humidity"]), json_values),
        "state": json_values,
    },
)
payloads = (
    st.binary(max_size=300)
    | keyed.map(lambda d: json.dumps(d).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"[" * 5000, b'{"a": {"b": NaN}}', b""])
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=st.sampled_from(TOPICS) | st.text(max_size=40), payload=payloads)
def test_parse_returns_readings_or_a_reasoned_rejection(tmp_path: Path, topic: str, payload: bytes) -> None:
    edge = shared(tmp_path)
    try:
        parsed = edge.ingest._parser.parse(topic, payload, 1_800_000_000.0)
    except PayloadError as exc:
        assert re.fullmatch(r"[a-z0-9_]+", exc.reason), exc.reason
        return
    assert isinstance(parsed, Parsed)
    for message in parsed.messages:
        assert DEVICE.match(message.device_id)
        for reading in message.readings:
            assert math.isfinite(reading.value) and math.isfinite(reading.ts)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(st.sampled_from(TOPICS), payloads), min_size=1, max_size=20))
def test_the_ingest_loop_survives_any_message_sequence(tmp_path: Path, messages: list[tuple[str, bytes]]) -> None:
    edge = shared(tmp_path)
    errors = REGISTRY.get_sample_value("wangge_edge_readings_rejected_total", {"reason": "parser_error"}) or 0.0
    for i, (topic, payload) in enumerate(messages):
        assert edge.send(edge.now + i, topic, payload) >= 0
    assert (
        REGISTRY.get_sample_value("wangge_edge_readings_rejected_total", {"reason": "parser_error"}) or 0.0
    ) == errors
    # Whatever came in, what went to the outbox is valid on the wire (the composer refuses anything else).
    for alert in edge.alerts()[-50:]:
        assert alert["v"] == 1


_harness: dict[str, Any] = {}


def shared(tmp_path: Path) -> Harness:
    """One edge for all examples: state carried across examples is part of what is being fuzzed."""
    if "edge" not in _harness:
        _harness["edge"] = Harness(edge_config(sensors=SENSORS, availability=AVAILABILITY), tmp_path)
    edge: Harness = _harness["edge"]
    return edge
