import math

import pytest

from wangge.detectors.readings import Reading
from wangge.edge.config import SensorTopic
from wangge.edge.payloads import PayloadError, ReadingParser, to_epoch

SENSORS = [
    SensorTopic.model_validate(
        {
            "topic": "estate/+b/gauge/+device",
            "device": "{b}-{device}",
            "timestamp_pointer": "/ts",
            "metrics": [
                {"name": "level", "pointer": "/data/level", "unit": "cm"},
                {"name": "battery", "pointer": "/data/bat~1pct"},
            ],
        }
    ),
    SensorTopic.model_validate(
        {"topic": "lift/+device/fault", "device": "{device}", "metrics": [{"name": "fault", "pointer": "plain"}]}
    ),
]


class _Parser:
    def parse(self, topic: str, payload: bytes, arrival: float) -> list[Reading]:
        [message] = ReadingParser(SENSORS, max_payload_bytes=1024).parse(topic, payload, arrival).messages
        return list(message.readings)


def parser() -> _Parser:
    return _Parser()


def test_json_pointer_metrics_units_and_payload_timestamp() -> None:
    payload = b'{"ts": "2026-07-01T08:00:00+08:00", "data": {"level": 23.5, "bat/pct": "87"}}'
    readings = parser().parse("estate/b7/gauge/g1", payload, arrival=1.0)
    assert [(r.device_id, r.metric, r.value, r.unit) for r in readings] == [
        ("b7-g1", "level", 23.5, "cm"),
        ("b7-g1", "battery", 87.0, None),
    ]
    assert readings[0].ts == 1782864000.0


@pytest.mark.parametrize(
    ("payload", "value"), [(b"1", 1.0), (b" 0 ", 0.0), (b"ON", 1.0), (b"off", 0.0), (b"true", 1.0), (b"2.5e1", 25.0)]
)
def test_plain_payloads(payload: bytes, value: float) -> None:
    [reading] = parser().parse("lift/l2/fault", payload, arrival=5.0)
    assert reading.value == value and reading.ts == 5.0 and reading.device_id == "l2"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("estate/b/gauge/g", b"{not json", "not_json"),
        ("estate/b/gauge/g", b'{"data": {"level": NaN, "bat/pct": 1}}', "not_finite"),
        ("estate/b/gauge/g", b'{"data": {"level": Infinity, "bat/pct": 1}}', "not_finite"),
        ("estate/b/gauge/g", b'{"data": {"level": 1e999, "bat/pct": 1}}', "not_finite"),
        ("estate/b/gauge/g", b'{"data": {"level": 1' + b"0" * 400 + b', "bat/pct": 1}}', "not_finite"),
        ("estate/b/gauge/g", b'{"data": {"level": "deep", "bat/pct": 1}}', "wrong_type"),
        ("estate/b/gauge/g", b'{"data": {"level": [1], "bat/pct": 1}}', "wrong_type"),
        ("estate/b/gauge/g", b'{"data": {"bat/pct": 1}}', "missing_field"),
        ("estate/b/gauge/g", b"[1, 2]", "missing_field"),
        ("estate/b/gauge/g", b'{"ts": "yesterday", "data": {"level": 1, "bat/pct": 1}}', "bad_timestamp"),
        ("estate/b/gauge/g", b'{"ts": 1' + b"0" * 400 + b', "data": {"level": 1, "bat/pct": 1}}', "bad_timestamp"),
        ("estate/b/gauge/g", b"\xff\xfe", "not_utf8"),
        ("estate/b/gauge/g", b"x" * 1025, "too_large"),
        ("lift/l2/fault", b"NaN", "not_finite"),
        ("lift/l2/fault", b"stuck", "wrong_type"),
        ("nobody/knows", b"1", "unknown_topic"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        parser().parse(topic, payload, arrival=1.0)
    assert info.value.reason == reason


def test_epoch_seconds_and_milliseconds_are_told_apart() -> None:
    assert to_epoch(1_700_000_000, "ts") == 1_700_000_000
    assert to_epoch(1_700_000_000_500, "ts") == 1_700_000_000.5
    assert math.isclose(to_epoch("2023-11-14T22:13:20Z", "ts"), 1_700_000_000)
    with pytest.raises(PayloadError):
        to_epoch("2023-11-14T22:13:20", "ts")
