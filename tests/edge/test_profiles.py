"""Every device profile's default rules on recorded sequences, through the edge's real parse → rules → outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.edge.harness import Harness, edge_config
from wangge.alert_format import iso
from wangge.edge.profiles import BUILTIN

T0 = 1_800_000_000.0


def estate(profile: str, fmt: str = "auto", **extra: Any) -> Any:
    return edge_config(
        sensors=[{"topic": f"estate/{profile}/+device", "device": "{device}", "format": fmt, "profile": profile}],
        **extra,
    )


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("wangge_edge_readings_rejected_total", {"reason": reason}) or 0.0


def test_there_are_eleven_profiles_each_mapped_to_a_ticket_category() -> None:
    assert sorted(BUILTIN) == sorted(
        [
            "water_level",
            "smoke_detector",
            "gas_detector",
            "manhole_cover",
            "elevator",
            "pump",
            "cabinet_temperature",
            "hydrant_pressure",
            "access_door",
            "temperature_humidity",
            "battery",
        ]
    )
    assert BUILTIN["manhole_cover"].category == "public_facilities.manhole_cover"
    assert BUILTIN["water_level"].category.startswith("emergencies.")
    assert BUILTIN["smoke_detector"].category.startswith("emergencies.")
    for profile in BUILTIN.values():
        assert profile.all_rules(), profile.name
        for rule in profile.all_rules():
            assert rule.metric in profile.metrics


def test_storm_flood_rises_through_three_severities_and_recedes_as_one_alert(tmp_path: Path) -> None:
    edge = Harness(estate("water_level"), tmp_path, T0)
    # A reading a minute: dry 2 cm for 10 min, +3 cm/min to 65 cm, 10 min at 65, -2 cm/min back to 2 cm.
    levels = [2.0] * 10 + [2.0 + 3 * i for i in range(1, 22)] + [65.0] * 10 + [65.0 - 2 * i for i in range(1, 32)]
    levels += [2.0] * 10
    for i, level in enumerate(levels):
        edge.send(T0 + 60 * i, "estate/water_level/underpass-1", {"water_level": level, "battery": 90})
    flood = [a for a in edge.alerts() if a["rule_id"] == "water_level.flooding"]
    assert [(a["event"], a["severity"]) for a in flood] == [
        ("start", "minor"),  # first past 20 cm
        ("update", "major"),  # past 40
        ("update", "critical"),  # past 60
        ("update", "major"),  # back under 60 - 5
        ("update", "minor"),  # back under 40 - 5
        ("end", "minor"),  # under 15 cm for 2 minutes
    ]
    assert len({a["alert_id"] for a in flood}) == 1
    first_wet = next(i for i, v in enumerate(levels) if v > 20)
    first_dry = next(i for i, v in enumerate(levels) if i > first_wet and v < 15)
    assert flood[0]["started_at"] == iso(T0 + 60 * first_wet)
    assert flood[-1]["ended_at"] == iso(T0 + 60 * first_dry)
    assert flood[0]["category"] == "emergencies.water_logging" and flood[0]["unit"] == "cm"
    rising = [a for a in edge.alerts() if a["rule_id"] == "water_level.rising_fast"]
    assert [a["event"] for a in rising] == ["start", "end"]
    assert rising[0]["attributes"]["rate_per_min"] == pytest.approx(3.0)
    # No other rule fired: no battery, stuck, implausible or offline alert on a healthy storm.
    assert {a["rule_id"] for a in edge.alerts()} == {"water_level.flooding", "water_level.rising_fast"}


def test_a_stuck_gauge_is_a_sensor_fault_and_clears_when_it_moves(tmp_path: Path) -> None:
    edge = Harness(estate("water_level"), tmp_path, T0)
    for i in range(45):  # 12.0 cm every 10 minutes for 7.5 hours
        edge.send(T0 + 600 * i, "estate/water_level/g1", {"water_level": 12.0})
    edge.send(T0 + 600 * 45, "estate/water_level/g1", {"water_level": 12.4})
    assert edge.story() == [
        ("water_level.stuck", "g1", "start", "minor"),
        ("water_level.stuck", "g1", "end", "minor"),
    ]
    start = edge.alerts()[0]
    assert start["started_at"] == iso(T0) and start["category"] == "devices.sensor_fault"


def test_an_unplugged_sensor_goes_offline_after_its_heartbeat_and_back_when_it_speaks(tmp_path: Path) -> None:
    edge = Harness(estate("water_level"), tmp_path, T0)
    edge.send(T0, "estate/water_level/g1", {"water_level": 3})
    assert edge.tick(T0 + 900) == 0  # the profile's heartbeat is 15 minutes: not yet
    assert edge.tick(T0 + 901) == 1
    edge.send(T0 + 1500, "estate/water_level/g1", {"water_level": 3})
    assert edge.story() == [("device_offline", "g1", "start", "minor"), ("device_offline", "g1", "end", "minor")]
    start, end = edge.alerts()
    assert start["started_at"] == iso(T0) and start["category"] == "devices.offline"
    assert end["ended_at"] == iso(T0 + 1500)


def test_a_declared_device_that_never_reports_goes_offline(tmp_path: Path) -> None:
    config = estate("gas_detector", devices=[{"id": "kitchen-gas", "profile": "gas_detector", "heartbeat_s": 120}])
    edge = Harness(config, tmp_path, T0)
    edge.tick(T0 + 121)
    assert edge.story() == [("device_offline", "kitchen-gas", "start", "minor")]


def test_an_edge_reboot_mid_flood_continues_the_same_alert(tmp_path: Path) -> None:
    edge = Harness(estate("water_level"), tmp_path, T0)
    for i, level in enumerate([30, 32, 33]):
        edge.send(T0 + 60 * i, "estate/water_level/g1", {"water_level": level})
    edge.reboot()
    for i, level in enumerate([31, 10, 8, 5, 4]):
        edge.send(T0 + 600 + 60 * i, "estate/water_level/g1", {"water_level": level})
    flood = [a for a in edge.alerts() if a["rule_id"] == "water_level.flooding"]
    assert [a["event"] for a in flood] == ["start", "end"]
    assert flood[0]["alert_id"] == flood[1]["alert_id"] and flood[1]["seq"] == 1


def test_an_impossible_value_is_a_sensor_fault_not_a_flood(tmp_path: Path) -> None:
    edge = Harness(estate("water_level"), tmp_path, T0)
    for i in range(5):
        edge.send(T0 + 60 * i, "estate/water_level/g1", {"water_level": 9999})
    edge.send(T0 + 300, "estate/water_level/g1", {"water_level": 4})
    assert edge.story() == [
        ("water_level.water_level_implausible", "g1", "start", "minor"),
        ("water_level.water_level_implausible", "g1", "end", "minor"),
    ]


STEP = 60.0


@pytest.mark.parametrize(
    ("profile", "payloads", "expected"),
    [
        (
            "smoke_detector",
            [{"smoke": True}, {"smoke": False}, {"smoke": True}, {"smoke": False}, {"smoke": True}, {"smoke": 0}],
            [
                ("smoke_detector.smoke_alarm", "start", "critical"),
                ("smoke_detector.smoke_alarm", "end", "critical"),
                ("smoke_detector.smoke_alarm", "start", "critical"),
                ("smoke_detector.smoke_alarm", "end", "critical"),
                ("smoke_detector.smoke_alarm", "start", "critical"),
                ("smoke_detector.repeated_alarms", "start", "minor"),
                ("smoke_detector.smoke_alarm", "end", "critical"),
            ],
        ),
        (
            "gas_detector",
            [{"gas_lel": v} for v in (0, 12, 12, 30, 30, 20, 4, 3)],
            [
                ("gas_detector.gas_leak", "start", "major"),
                ("gas_detector.gas_leak", "update", "critical"),
                ("gas_detector.gas_leak", "update", "major"),
                ("gas_detector.gas_leak", "end", "major"),
            ],
        ),
        (
            "manhole_cover",
            # Knocked three times (single readings: shorter than the 4 s a tilt must last), then left open.
            [{"cover_tilt": v} for v in (1, 30, 2, 30, 2, 30, 30, 1)],
            [
                ("manhole_cover.loose", "start", "minor"),
                ("manhole_cover.tilted", "start", "major"),
                ("manhole_cover.tilted", "end", "major"),
            ],
        ),
        (
            "elevator",
            [
                {"trapped": 1, "elevator_fault": 1},
                {"trapped": 0, "elevator_fault": 1},
                {"trapped": 0, "elevator_fault": 0},
            ],
            [
                ("elevator.trapped", "start", "critical"),
                ("elevator.fault", "start", "major"),
                ("elevator.trapped", "end", "critical"),
                ("elevator.fault", "end", "major"),
            ],
        ),
        (
            "cabinet_temperature",
            [{"cabinet_temp": v} for v in (35, 35, 50, 62, 64, 78, 80, 70, 50, 40)],
            # 62 °C held a minute: major; 78: critical, and 35 -> 78 °C over 5 minutes is 8.6 °C/min;
            # 70 is back under 75 - 3: major; 50 is under the 55 clear level: over.
            [
                ("cabinet_temperature.overheating", "start", "major"),
                ("cabinet_temperature.overheating", "update", "critical"),
                ("cabinet_temperature.heating_fast", "start", "major"),
                ("cabinet_temperature.overheating", "update", "major"),
                ("cabinet_temperature.overheating", "end", "major"),
            ],
        ),
        (
            "access_door",
            [{"door_forced": v, "door_open": 1} for v in (1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0)],
            [
                ("access_door.forced", "start", "major"),
                ("access_door.forced", "end", "major"),
                ("access_door.forced", "start", "major"),
                ("access_door.forced", "end", "major"),
                ("access_door.forced", "start", "major"),
                ("access_door.repeated_forcing", "start", "major"),
                ("access_door.forced", "end", "major"),
                ("access_door.held_open", "start", "minor"),
            ],
        ),
        (
            "battery",
            [{"battery": v} for v in (50, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 8, 9, 30)],
            # Under 20 % for the 10 minutes the rule wants, then under 10 %, then a fresh battery.
            [
                ("battery.battery_low", "start", "minor"),
                ("battery.battery_low", "update", "major"),
                ("battery.battery_low", "end", "major"),
            ],
        ),
    ],
)
def test_profile_defaults_on_recorded_sequences(
    tmp_path: Path, profile: str, payloads: list[dict[str, Any]], expected: list[tuple[str, str, str]]
) -> None:
    edge = Harness(estate(profile), tmp_path, T0)
    for i, payload in enumerate(payloads):
        edge.send(T0 + STEP * i, f"estate/{profile}/dev-1", payload)
    assert [(rule, event, severity) for rule, _, event, severity in edge.story()] == expected
    for alert in edge.alerts():
        assert alert["category"] in {r.category for r in BUILTIN[profile].all_rules()}


def test_pump_running_two_hours_and_hydrant_low_pressure_need_their_durations(tmp_path: Path) -> None:
    config = edge_config(
        sensors=[
            {"topic": "estate/pump/+device", "device": "{device}", "format": "auto", "profile": "pump"},
            {"topic": "estate/hydrant/+device", "device": "{device}", "format": "auto", "profile": "hydrant_pressure"},
        ]
    )
    edge = Harness(config, tmp_path, T0)
    for minute in range(0, 130, 10):
        edge.send(T0 + 60 * minute, "estate/pump/p1", {"pump_running": "ON", "pump_fault": "OFF"})
        edge.send(T0 + 60 * minute + 1, "estate/hydrant/h1", {"hydrant_pressure": 0.35 if minute < 60 else 0.05})
    story = [(rule, event) for rule, _, event, _ in edge.story()]
    # 0.35 -> 0.05 MPa between readings 10 minutes apart is 0.03 MPa/min: under the 0.05/min of a burst main.
    assert story == [("hydrant_pressure.low_pressure", "start"), ("pump.running_long", "start")]
    low = next(a for a in edge.alerts() if a["rule_id"] == "hydrant_pressure.low_pressure")
    assert low["started_at"] == iso(T0 + 3600 + 1)
    running = next(a for a in edge.alerts() if a["rule_id"] == "pump.running_long")
    assert running["started_at"] == iso(T0)


def test_humidity_damp_and_an_unusual_temperature(tmp_path: Path) -> None:
    edge = Harness(estate("temperature_humidity"), tmp_path, T0)
    for i in range(400):
        temperature = 21.0 + 0.3 * ((i * 7919) % 11 - 5) / 5  # a steady room, +-0.3 °C
        if i == 300:
            temperature = 45.0
        edge.send(T0 + 60 * i, "estate/temperature_humidity/room-1", {"temperature": temperature, "humidity": 92})
    story = [(rule, event) for rule, _, event, _ in edge.story()]
    assert ("temperature_humidity.damp", "start") in story
    unusual = [a for a in edge.alerts() if a["rule_id"] == "temperature_humidity.unusual_temperature"]
    assert unusual and unusual[0]["at"] == iso(T0 + 60 * 300)
    assert unusual[0]["attributes"]["score"] >= 0.3  # the default threshold (docs/sensors.md)


def test_device_overrides_change_one_device_only(tmp_path: Path) -> None:
    config = estate(
        "water_level",
        devices=[
            {
                "id": "g-deep",
                "profile": "water_level",
                "rules": {
                    "flooding": {"above": 50, "clear": 40, "steps": [{"level": 50, "severity": "major"}]},
                    "rising_fast": {"enabled": False},
                },
            }
        ],
    )
    edge = Harness(config, tmp_path, T0)
    for i, level in enumerate([30, 30, 30, 60, 60]):
        edge.send(T0 + 60 * i, "estate/water_level/g-deep", {"water_level": level})
        edge.send(T0 + 60 * i, "estate/water_level/g-shallow", {"water_level": level})
    story = [(rule, device, event, severity) for rule, device, event, severity in edge.story()]
    assert ("water_level.flooding", "g-shallow", "start", "minor") in story
    assert ("water_level.flooding", "g-deep", "start", "major") in story
    deep = [s for s in story if s[1] == "g-deep"]
    assert deep == [("water_level.flooding", "g-deep", "start", "major")]  # no rising_fast for it


def test_duplicates_reordering_and_clock_skew_are_handled_and_counted(tmp_path: Path) -> None:
    config = edge_config(
        sensors=[
            {
                "topic": "estate/+device/level",
                "device": "{device}",
                "timestamp_pointer": "/ts",
                "metrics": [{"name": "water_level", "pointer": "/cm"}],
                "profile": "water_level",
            }
        ]
    )
    edge = Harness(config, tmp_path, T0)
    before = {r: rejected(r) for r in ("duplicate", "out_of_order")}
    edge.send(T0, "estate/g1/level", {"ts": T0, "cm": 5})
    edge.send(T0 + 1, "estate/g1/level", {"ts": T0, "cm": 5})  # the same reading again (QoS 1 redelivery)
    edge.send(T0 + 2, "estate/g1/level", {"ts": T0 - 60, "cm": 50})  # older than what we have: dropped
    edge.send(T0 + 3, "estate/g1/level", {"ts": T0, "cm": 6})  # same time, new value: a correction, taken
    assert rejected("duplicate") - before["duplicate"] == 1
    assert rejected("out_of_order") - before["out_of_order"] == 1
    assert edge.ingest.readings == 2
    skew = REGISTRY.get_sample_value("wangge_edge_readings_adjusted_total", {"reason": "clock_skew"}) or 0.0
    edge.send(T0 + 4, "estate/g1/level", {"ts": T0 + 86400, "cm": 7})  # a device clock a day ahead
    assert (REGISTRY.get_sample_value("wangge_edge_readings_adjusted_total", {"reason": "clock_skew"}) or 0) == skew + 1
    edge.send(T0 + 5, "estate/g1/level", {"ts": T0 + 5, "cm": 8})  # and the next honest reading is still taken
    assert edge.ingest.readings == 4
    assert edge.alerts() == []


def test_a_sparkplug_gateway_reboot_takes_its_devices_offline_and_back_without_a_second_flood(
    tmp_path: Path,
) -> None:
    from tests.edge.tahu import spb

    config = edge_config(
        sensors=[
            {
                "topic": "spBv1.0/estate1/#",
                "device": "{device}",
                "format": "sparkplug_b",
                "profile": "water_level",
                "rename": {"Level": "water_level"},
            }
        ]
    )
    edge = Harness(config, tmp_path, T0)

    def boot(at: float, bd_seq: int, level: float) -> None:
        edge.send(at, "spBv1.0/estate1/NBIRTH/gw", spb(0, [("bdSeq", None, 8, "long_value", bd_seq)], int(at * 1000)))
        birth = spb(1, [("Level", 1, 10, "double_value", level)], int(at * 1000))
        edge.send(at + 1, "spBv1.0/estate1/DBIRTH/gw/g1", birth)

    boot(T0, 0, 30.0)
    edge.send(
        T0 + 60, "spBv1.0/estate1/DDATA/gw/g1", spb(2, [(None, 1, 10, "double_value", 35.0)], int((T0 + 60) * 1000))
    )
    edge.send(T0 + 120, "spBv1.0/estate1/NDEATH/gw", spb(None, [("bdSeq", None, 8, "long_value", 0)]))
    boot(T0 + 300, 1, 36.0)  # the gateway is back with a new session; the water is still there
    assert [(rule, device, event) for rule, device, event, _ in edge.story()] == [
        ("water_level.flooding", "g1", "start"),
        ("device_offline", "gw", "start"),
        ("device_offline", "g1", "start"),
        ("device_offline", "gw", "end"),
        ("device_offline", "g1", "end"),
    ]
