"""Device profiles: what each kind of estate sensor reports, what is plausible, and which rules it gets.

A profile maps its alerts to the ticket categories the case system routes on (water-logging and fire are
emergencies; a tilted manhole cover goes to public facilities). Every number below is a default an estate
can override per device in edge.yaml (`devices[].rules.<id>: {...}`), or replace by defining a profile of
the same name under `profiles:`.

Where the defaults come from: water steps follow the usual urban water-logging grading (passable below
20 cm, closed to cars from about 40 cm); gas alarms at 10 / 25 %LEL are the common two-stage settings of
combustible-gas detectors (GB 15322 devices alarm between 1 and 25 %LEL); cabinet temperatures follow
the 60-70 °C range at which switchgear inspections flag hot spots; hydrant static pressure should stay
above 0.1 MPa (GB 50974 minimum for an indoor hydrant outlet under fire flow is higher, 0.1 MPa is the
"no water" line).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import Field, TypeAdapter, model_validator

from wangge.configfile import Ident, StrictModel
from wangge.edge.rule_config import Category, RangeRule, RuleConfig

SENSOR_FAULT = "devices.sensor_fault"
BATTERY_LOW = "devices.battery_low"


class MetricSpec(StrictModel):
    unit: str | None = Field(default=None, max_length=32)
    low: float | None = Field(default=None, description="lowest plausible value; below is a sensor fault")
    high: float | None = Field(default=None, description="highest plausible value")


class DeviceProfile(StrictModel):
    name: Ident
    title: str = Field(min_length=1, max_length=200)
    category: Category = Field(description="the ticket category of the profile's main alerts")
    metrics: dict[Ident, MetricSpec] = Field(min_length=1)
    heartbeat_s: float | None = Field(default=None, gt=0, le=30 * 86400, description="offline after this silence")
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _rule_category(cls, data: Any) -> Any:
        """A profile's rules default to its category, so most of them need not repeat it."""
        if isinstance(data, dict) and isinstance(data.get("rules"), list):
            data = dict(data)
            data["rules"] = [
                {"category": data.get("category"), **r} if isinstance(r, dict) else r for r in data["rules"]
            ]
        return data

    @model_validator(mode="after")
    def _checks(self) -> DeviceProfile:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.metric not in self.metrics:
                raise ValueError(f"rules[{i}].metric: {rule.metric!r} is not one of the profile's metrics")
            if rule.id in seen:
                raise ValueError(f"rules[{i}].id: {rule.id!r} is used twice")
            seen.add(rule.id)
        return self

    def all_rules(self) -> list[RuleConfig]:
        """The profile's rules plus a plausibility rule for every metric with a range."""
        ranges: list[RuleConfig] = [
            RangeRule(
                kind="range",
                id=f"{metric}_implausible",
                metric=metric,
                low=spec.low,
                high=spec.high,
                category=SENSOR_FAULT,
                title=f"传感器故障 Implausible {metric} {{value:g}}{{unit}} at {{device}}",
            )
            for metric, spec in self.metrics.items()
            if spec.low is not None and spec.high is not None
        ]
        return ranges + [r for r in self.rules if r.enabled]

    def with_overrides(self, overrides: dict[str, dict[str, Any]], heartbeat_s: float | None) -> DeviceProfile:
        """This profile with some rules changed for one device (merged key by key, then validated again)."""
        raw = self.model_dump(mode="python", exclude_none=True)
        by_id = {r["id"]: r for r in raw["rules"]}
        unknown = sorted(set(overrides) - set(by_id))
        if unknown:
            raise ValueError(f"profile {self.name!r} has no rules {unknown}; it has {sorted(by_id)}")
        for rule_id, changes in overrides.items():
            by_id[rule_id].update(copy.deepcopy(changes))
        raw["name"] = self.name
        if heartbeat_s is not None:
            raw["heartbeat_s"] = heartbeat_s
        raw["rules"] = list(by_id.values())
        return DeviceProfile.model_validate(raw)


_BATTERY_METRIC = {"battery": {"unit": "%", "low": 0, "high": 100}}
_BATTERY_RULES: list[dict[str, Any]] = [
    {
        "id": "battery_low",
        "metric": "battery",
        "below": 20,
        "clear": 25,
        "for_s": 600,
        "steps": [{"level": 20, "severity": "minor"}, {"level": 10, "severity": "major"}],
        "hysteresis": 2,
        "category": BATTERY_LOW,
        "title": "电量低 Battery {value:g}% at {device}",
    }
]


def _binary(metric: str) -> dict[str, Any]:
    return {metric: {"low": 0, "high": 1}}


def _on(rule_id: str, metric: str, severity: str, title: str, **extra: Any) -> dict[str, Any]:
    """A 0/1 contact: raise when it closes (1), end when it opens (0)."""
    return {"id": rule_id, "metric": metric, "above": 0.5, "clear": 0.5, "severity": severity, "title": title, **extra}


def _battery(profile: dict[str, Any]) -> dict[str, Any]:
    return {**profile, "metrics": {**profile["metrics"], **_BATTERY_METRIC}, "rules": profile["rules"] + _BATTERY_RULES}


_PROFILES: list[dict[str, Any]] = [
    _battery(
        {
            "name": "water_level",
            "title": "积水水位计 Underpass / basement water level",
            "category": "emergencies.water_logging",
            "metrics": {"water_level": {"unit": "cm", "low": 0, "high": 500}},
            "heartbeat_s": 900,
            "rules": [
                {
                    "id": "flooding",
                    "metric": "water_level",
                    "above": 20,
                    "clear": 15,
                    "for_s": 30,
                    "clear_for_s": 120,
                    "steps": [
                        {"level": 20, "severity": "minor"},
                        {"level": 40, "severity": "major"},
                        {"level": 60, "severity": "critical"},
                    ],
                    "hysteresis": 5,
                    "title": "积水 Water {value:g}{unit} at {device}",
                },
                {
                    "kind": "rate",
                    "id": "rising_fast",
                    "metric": "water_level",
                    "rise_per_min": 2,
                    "window_s": 120,
                    "title": "水位快速上涨 Water rising {judged:.1f} cm/min at {device}",
                },
                {
                    "kind": "stuck",
                    "id": "stuck",
                    "metric": "water_level",
                    "for_s": 6 * 3600,
                    "min_readings": 10,
                    "category": SENSOR_FAULT,
                    "title": "水位计疑似故障 Water gauge stuck at {value:g}{unit} at {device}",
                },
            ],
        }
    ),
    _battery(
        {
            "name": "smoke_detector",
            "title": "烟感 Smoke detector",
            "category": "emergencies.fire",
            "metrics": _binary("smoke"),
            "heartbeat_s": 4 * 3600,
            "rules": [
                _on("smoke_alarm", "smoke", "critical", "烟感报警 Smoke alarm at {device}"),
                {
                    "kind": "repeat",
                    "id": "repeated_alarms",
                    "metric": "smoke",
                    "above": 0.5,
                    "count": 3,
                    "within_s": 3600,
                    "severity": "minor",
                    "category": "fire_safety.smoke_detector",
                    "title": "烟感反复报警 Smoke detector alarmed repeatedly at {device}: check it",
                },
            ],
        }
    ),
    {
        "name": "gas_detector",
        "title": "可燃气体探测器 Combustible gas detector",
        "category": "emergencies.gas_leak",
        "metrics": {"gas_lel": {"unit": "%LEL", "low": 0, "high": 100}},
        "heartbeat_s": 600,
        "rules": [
            {
                "id": "gas_leak",
                "metric": "gas_lel",
                "above": 10,
                "clear": 5,
                "for_s": 5,
                "steps": [{"level": 10, "severity": "major"}, {"level": 25, "severity": "critical"}],
                "hysteresis": 3,
                "title": "燃气泄漏 Gas {value:g}{unit} at {device}",
            }
        ],
    },
    _battery(
        {
            "name": "manhole_cover",
            "title": "井盖监测 Manhole cover",
            "category": "public_facilities.manhole_cover",
            "metrics": {"cover_tilt": {"unit": "deg", "low": 0, "high": 180}, **_binary("cover_open")},
            "heartbeat_s": 3600,
            "rules": [
                {
                    "id": "tilted",
                    "metric": "cover_tilt",
                    "above": 15,
                    "clear": 5,
                    "for_s": 4,
                    "title": "井盖移位 Manhole cover tilted {value:g}{unit} at {device}",
                },
                _on("open", "cover_open", "major", "井盖打开 Manhole cover open at {device}"),
                {
                    "kind": "repeat",
                    "id": "loose",
                    "metric": "cover_tilt",
                    "above": 15,
                    "count": 3,
                    "within_s": 600,
                    "severity": "minor",
                    "title": "井盖松动 Manhole cover knocked loose repeatedly at {device}",
                },
            ],
        }
    ),
    {
        "name": "elevator",
        "title": "电梯 Elevator",
        "category": "emergencies.elevator_entrapment",
        "metrics": {**_binary("trapped"), **_binary("elevator_fault")},
        "heartbeat_s": 300,
        "rules": [
            _on("trapped", "trapped", "critical", "电梯困人 Passenger trapped in {device}"),
            _on(
                "fault",
                "elevator_fault",
                "major",
                "电梯故障 Elevator fault at {device}",
                category="public_facilities.elevator",
            ),
            {
                "kind": "repeat",
                "id": "repeated_faults",
                "metric": "elevator_fault",
                "above": 0.5,
                "count": 3,
                "within_s": 86400,
                "severity": "minor",
                "category": "public_facilities.elevator",
                "title": "电梯频繁故障 Elevator faulted 3 times in a day at {device}",
            },
        ],
    },
    {
        "name": "pump",
        "title": "水泵 Pump (drainage / booster)",
        "category": "public_facilities.pump",
        "metrics": {**_binary("pump_running"), **_binary("pump_fault")},
        "heartbeat_s": 600,
        "rules": [
            _on("fault", "pump_fault", "major", "水泵故障 Pump fault at {device}"),
            _on(
                "running_long",
                "pump_running",
                "minor",
                "水泵长时间运行 Pump running over 2 h at {device}",
                for_s=7200,
            ),
        ],
    },
    {
        "name": "cabinet_temperature",
        "title": "配电柜温度 Electrical cabinet temperature",
        "category": "public_facilities.electrical_cabinet",
        "metrics": {"cabinet_temp": {"unit": "°C", "low": -40, "high": 150}},
        "heartbeat_s": 600,
        "rules": [
            {
                "id": "overheating",
                "metric": "cabinet_temp",
                "above": 60,
                "clear": 55,
                "for_s": 60,
                "steps": [{"level": 60, "severity": "major"}, {"level": 75, "severity": "critical"}],
                "hysteresis": 3,
                "title": "配电柜过热 Cabinet {value:g}{unit} at {device}",
            },
            {
                "kind": "rate",
                "id": "heating_fast",
                "metric": "cabinet_temp",
                "rise_per_min": 2,
                "window_s": 300,
                "title": "配电柜快速升温 Cabinet heating {judged:.1f} °C/min at {device}",
            },
            {
                "kind": "anomaly",
                "id": "unusual",
                "metric": "cabinet_temp",
                "title": "配电柜温度异常 Unusual cabinet temperature {value:g}{unit} at {device}",
            },
        ],
    },
    _battery(
        {
            "name": "hydrant_pressure",
            "title": "消火栓水压 Fire hydrant pressure",
            "category": "fire_safety.hydrant",
            "metrics": {"hydrant_pressure": {"unit": "MPa", "low": 0, "high": 2.5}},
            "heartbeat_s": 3600,
            "rules": [
                {
                    "id": "low_pressure",
                    "metric": "hydrant_pressure",
                    "below": 0.1,
                    "clear": 0.14,
                    "for_s": 300,
                    "title": "消火栓水压不足 Hydrant pressure {value:g}{unit} at {device}",
                },
                {
                    "kind": "rate",
                    "id": "pressure_drop",
                    "metric": "hydrant_pressure",
                    "fall_per_min": 0.05,
                    "window_s": 60,
                    "title": "消火栓压力骤降 Hydrant pressure falling {judged:.2f} MPa/min at {device}",
                },
            ],
        }
    ),
    {
        "name": "access_door",
        "title": "门禁 Access-controlled door",
        "category": "public_security.access_door",
        "metrics": {**_binary("door_forced"), **_binary("door_open")},
        "heartbeat_s": 1800,
        "rules": [
            _on("forced", "door_forced", "major", "门被强行打开 Door forced at {device}"),
            _on("held_open", "door_open", "minor", "门长时间未关 Door held open at {device}", for_s=300),
            {
                "kind": "repeat",
                "id": "repeated_forcing",
                "metric": "door_forced",
                "above": 0.5,
                "count": 3,
                "within_s": 600,
                "severity": "major",
                "title": "门反复被强开 Door forced 3 times in 10 min at {device}",
            },
        ],
    },
    _battery(
        {
            "name": "temperature_humidity",
            "title": "温湿度 Temperature and humidity",
            "category": "environment.temperature_humidity",
            "metrics": {
                "temperature": {"unit": "°C", "low": -40, "high": 85},
                "humidity": {"unit": "%", "low": 0, "high": 100},
            },
            "heartbeat_s": 1800,
            "rules": [
                {
                    "kind": "anomaly",
                    "id": "unusual_temperature",
                    "metric": "temperature",
                    "title": "温度异常 Unusual temperature {value:g}{unit} at {device}",
                },
                {
                    "id": "damp",
                    "metric": "humidity",
                    "above": 90,
                    "clear": 85,
                    "for_s": 1800,
                    "severity": "minor",
                    "title": "湿度过高 Humidity {value:g}% at {device}",
                },
            ],
        }
    ),
    {
        "name": "battery",
        "title": "电池 Battery-powered device",
        "category": BATTERY_LOW,
        "metrics": _BATTERY_METRIC,
        "rules": _BATTERY_RULES,
    },
]

BUILTIN: dict[str, DeviceProfile] = {p.name: p for p in TypeAdapter(list[DeviceProfile]).validate_python(_PROFILES)}
