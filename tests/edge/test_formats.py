"""Vendor payload shapes, availability topics and Sparkplug B, parsed by the edge's ReadingParser."""

from __future__ import annotations

from typing import Any

import pytest

from tests.edge.tahu import spb, tahu
from wangge.edge.config import AvailabilityTopic, SensorTopic
from wangge.edge.payloads import Parsed, PayloadError, ReadingParser
from wangge.edge.sparkplug import Payload


def parser(*sensors: dict[str, Any], availability: list[dict[str, Any]] | None = None) -> ReadingParser:
    return ReadingParser(
        [SensorTopic.model_validate(s) for s in sensors],
        65536,
        [AvailabilityTopic.model_validate(a) for a in availability or []],
        {"water_level": {"water_level": "cm"}},
    )


def readings(parsed: Parsed) -> dict[str, float]:
    [message] = parsed.messages
    return {r.metric: r.value for r in message.readings}


def test_zigbee2mqtt_contact_means_closed_and_last_seen_is_the_time() -> None:
    p = parser({"topic": "zigbee2mqtt/+device", "device": "{device}", "format": "zigbee2mqtt"})
    payload = (
        b'{"battery": 97, "contact": false, "linkquality": 120, "tamper": false, "voltage": 3000,'
        b' "last_seen": "2026-11-23T08:00:00Z", "device": {"ieeeAddr": "0x1"}, "action": "single"}'
    )
    parsed = p.parse("zigbee2mqtt/door-3", payload, arrival=1.0)
    assert readings(parsed) == {"battery": 97, "door_open": 1.0, "tamper": 0.0, "voltage": 3000}
    assert parsed.messages[0].readings[0].ts == 1795420800.0


def test_tasmota_nested_sensors_take_their_leaf_names_unless_two_share_one() -> None:
    p = parser({"topic": "tele/+device/SENSOR", "device": "{device}", "format": "tasmota"})
    one = b'{"Time": "2026-11-23T16:00:00", "AM2301": {"Temperature": 21.5, "Humidity": 60.1}, "TempUnit": "C"}'
    assert readings(p.parse("tele/plant-room/SENSOR", one, 5.0)) == {"temperature": 21.5, "humidity": 60.1}
    two = b'{"DS18B20-1": {"Temperature": 20}, "DS18B20-2": {"Temperature": 40}, "POWER": "ON"}'
    assert readings(p.parse("tele/plant-room/SENSOR", two, 5.0)) == {
        "ds18b20_1_temperature": 20,
        "ds18b20_2_temperature": 40,
        "power": 1.0,
    }


def test_home_assistant_bare_states_and_renames() -> None:
    p = parser(
        {
            "topic": "homeassistant/+domain/+device/state",
            "device": "{device}",
            "format": "homeassistant",
            "metrics": [{"name": "water_level"}],
            "profile": "water_level",
        }
    )
    reading = p.parse("homeassistant/sensor/underpass-1/state", b"23.5", 9.0).messages[0].readings[0]
    assert (reading.metric, reading.value, reading.unit, reading.ts) == ("water_level", 23.5, "cm", 9.0)
    assert readings(p.parse("homeassistant/binary_sensor/underpass-1/state", b"on", 9.0)) == {"water_level": 1.0}
    renamed = parser(
        {"topic": "esp/+device", "device": "{device}", "format": "auto", "rename": {"depth_cm": "water_level"}}
    )
    assert readings(renamed.parse("esp/g1", b'{"depth_cm": 12, "rssi": -60}', 1.0)) == {
        "water_level": 12,
        "rssi": -60,
    }


@pytest.mark.parametrize(
    ("payload", "online"),
    [(b"online", True), (b"Offline", False), (b'{"state": "online"}', True), (b'{"state":"offline"}', False)],
)
def test_availability_topics(payload: bytes, online: bool) -> None:
    p = parser(availability=[{"topic": "zigbee2mqtt/+device/availability", "device": "{device}"}])
    [message] = p.parse("zigbee2mqtt/door-3/availability", payload, 1.0).messages
    assert (message.device_id, message.online, message.readings) == ("door-3", online, ())


def test_availability_nonsense_is_rejected() -> None:
    p = parser(availability=[{"topic": "tele/+device/LWT", "device": "{device}"}])
    with pytest.raises(PayloadError) as info:
        p.parse("tele/x/LWT", b"maybe", 1.0)
    assert info.value.reason == "bad_availability"


@pytest.mark.parametrize(
    ("sensor", "message"),
    [
        ({"topic": "a/+d", "device": "{d}", "format": "json"}, "needs 'metrics'"),
        ({"topic": "a/+d", "device": "{d}", "format": "auto", "metrics": [{"name": "x", "pointer": "/x"}]}, "names"),
        ({"topic": "a/+d", "device": "{d}", "format": "sparkplug_b"}, "spBv1.0/"),
        ({"topic": "spBv1.0/#", "device": "{node}-{bogus}", "format": "sparkplug_b"}, "bogus"),
    ],
)
def test_mapping_mistakes_are_config_errors(sensor: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SensorTopic.model_validate(sensor)


# -- Sparkplug B -------------------------------------------------------------------------------------


def test_our_sparkplug_schema_matches_eclipse_tahus() -> None:
    reference = tahu().Payload.DESCRIPTOR
    ours = Payload.DESCRIPTOR
    for ref, mine in (
        (reference, ours),
        (reference.nested_types_by_name["Metric"], ours.nested_types_by_name["Metric"]),
    ):
        for field in mine.fields:
            theirs = ref.fields_by_name[field.name]
            assert (field.number, field.type) == (theirs.number, theirs.type), field.name


SPARKPLUG = {
    "topic": "spBv1.0/+group/#",
    "device": "{node}.{device}",
    "format": "sparkplug_b",
    "rename": {"Water/Level": "water_level"},
}


def test_sparkplug_births_aliases_data_and_deaths() -> None:
    p = parser(SPARKPLUG)
    node_birth = spb(0, [("bdSeq", None, 8, "long_value", 4), ("Node Control/Rebirth", 0, 11, "boolean_value", False)])
    [node] = p.parse("spBv1.0/estate1/NBIRTH/gw-a", node_birth, 1.0).messages
    assert (node.device_id, node.online, node.readings) == ("gw-a.gw-a", True, ())
    birth = spb(1, [("Water/Level", 7, 10, "double_value", 12.5), ("Temp", 8, 3, "int_value", (1 << 32) - 5)])
    [device] = p.parse("spBv1.0/estate1/DBIRTH/gw-a/gauge-1", birth, 2.0).messages
    assert device.device_id == "gw-a.gauge-1" and device.online is True
    assert {r.metric: r.value for r in device.readings} == {"water_level": 12.5, "temp": -5.0}  # Int32 -5
    assert device.readings[0].ts == 1795420800.0
    data = spb(2, [(None, 7, 10, "double_value", 31.0)])  # by alias only, as DATA messages may be
    parsed = p.parse("spBv1.0/estate1/DDATA/gw-a/gauge-1", data, 3.0)
    assert readings(parsed) == {"water_level": 31.0} and parsed.rebirth_topic is None
    [dead] = p.parse("spBv1.0/estate1/DDEATH/gw-a/gauge-1", spb(3, []), 4.0).messages
    assert (dead.device_id, dead.online) == ("gw-a.gauge-1", False)
    p.parse("spBv1.0/estate1/DBIRTH/gw-a/gauge-1", spb(4, [("Water/Level", 7, 10, "double_value", 1.0)]), 5.0)
    death = p.parse("spBv1.0/estate1/NDEATH/gw-a", spb(None, [("bdSeq", None, 8, "long_value", 4)]), 6.0)
    assert [(m.device_id, m.online) for m in death.messages] == [("gw-a.gw-a", False), ("gw-a.gauge-1", False)]


def test_sparkplug_sequence_gap_and_unknown_alias_ask_for_a_rebirth() -> None:
    p = parser(SPARKPLUG)
    p.parse("spBv1.0/e/NBIRTH/n", spb(0, [("bdSeq", None, 8, "long_value", 1)]), 1.0)
    p.parse("spBv1.0/e/DBIRTH/n/d", spb(1, [("Water/Level", 1, 10, "double_value", 2.0)]), 1.0)
    gap = p.parse("spBv1.0/e/DDATA/n/d", spb(5, [(None, 1, 10, "double_value", 3.0)]), 1.0)
    assert gap.rebirth_topic == "spBv1.0/e/NCMD/n" and gap.problem is not None
    assert gap.problem.reason == "sequence_gap" and "sequence gap" in gap.problem.detail
    assert readings(gap) == {"water_level": 3.0}  # the message itself is still good
    unknown = p.parse("spBv1.0/e/DDATA/n/d", spb(6, [(None, 99, 10, "double_value", 3.0)]), 1.0)
    assert unknown.rebirth_topic is not None and unknown.problem is not None
    assert unknown.problem.reason == "unknown_alias" and "unknown alias" in unknown.problem.detail
    stranger = p.parse("spBv1.0/e/DDATA/other/d", spb(0, []), 1.0)
    assert stranger.messages == [] and stranger.rebirth_topic == "spBv1.0/e/NCMD/other"


def test_a_stale_death_certificate_does_not_kill_a_reborn_node() -> None:
    p = parser(SPARKPLUG)
    p.parse("spBv1.0/e/NBIRTH/n", spb(0, [("bdSeq", None, 8, "long_value", 2)]), 1.0)
    late = p.parse("spBv1.0/e/NDEATH/n", spb(None, [("bdSeq", None, 8, "long_value", 1)]), 2.0)
    assert late.messages == [] and late.problem is not None
    assert late.problem.reason == "stale_death" and "stale" in late.problem.detail
    fresh = p.parse("spBv1.0/e/NDEATH/n", spb(None, [("bdSeq", None, 8, "long_value", 2)]), 3.0)
    assert [m.online for m in fresh.messages] == [False]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("spBv1.0/e/DDATA/n", b"", "bad_topic"),
        ("spBv1.0/e/STATE/n", b"", "not_a_reading"),
        ("spBv1.0/e/NBIRTH/n", b"\xff\xff\xff", "bad_protobuf"),
    ],
)
def test_sparkplug_rejections(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        parser(SPARKPLUG).parse(topic, payload, 1.0)
    assert info.value.reason == reason


def test_a_unit_other_than_the_expected_one_is_rejected() -> None:
    p = parser(
        {
            "topic": "g/+device",
            "device": "{device}",
            "metrics": [{"name": "water_level", "pointer": "/level", "unit": "cm", "unit_pointer": "/unit"}],
        },
        {"topic": "tele/+device/SENSOR", "device": "{device}", "format": "tasmota"},
    )
    assert readings(p.parse("g/a", b'{"level": 23, "unit": "cm"}', 1.0)) == {"water_level": 23}
    for topic, payload in (
        ("g/a", b'{"level": 230, "unit": "mm"}'),
        ("tele/x/SENSOR", b'{"AM2301": {"Temperature": 70.7}, "TempUnit": "F"}'),
    ):
        with pytest.raises(PayloadError) as info:
            p.parse(topic, payload, 1.0)
        assert info.value.reason == "wrong_unit"
