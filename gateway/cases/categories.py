"""The category catalogue: what `emergencies.water_logging` is called (积水内涝 / Water logging), which group it
belongs to, its colour and icon, and optionally its own SLA and department.

Codes stay the API's currency (tickets, filters, webhooks' JSON); people read names: the console, robot
messages and resident pages look names up here. A code nobody catalogued (an edge's own rule) is named by
its nearest catalogued group plus its last part, so nothing shows a bare dotted code where a name exists.
gateway.yaml's `cases.categories` adds categories or replaces built-in ones by code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from wangge.configfile import StrictModel
from wangge.gateway.cases.sla import STAGES, StageLimit

CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){0,3}$")
COLOUR = re.compile(r"^#[0-9a-f]{6}$")


class CategoryConfig(StrictModel):
    """One catalogue entry; a code with a dot needs its group (the part before the last dot) catalogued too."""

    code: str = Field(description="e.g. emergencies.water_logging")
    zh: str = Field(min_length=1, max_length=40, description="the Chinese name people read")
    en: str = Field(min_length=1, max_length=80, description="the English name")
    colour: str | None = Field(default=None, description="#rrggbb; absent: the group's")
    icon: str | None = Field(default=None, max_length=4, description="a short glyph for maps and lists")
    department: str | None = Field(
        default=None, min_length=1, max_length=200, description="default route (三事分流) when no route matches"
    )
    clock: Literal["work", "wall"] = "work"
    sla: dict[str, str] | None = Field(default=None, description="default stage limits for this category")

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not CODE.match(value):
            raise ValueError(f"{value!r} is not a category code like emergencies.water_logging")
        return value

    @field_validator("colour")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is not None and not COLOUR.match(value):
            raise ValueError(f"{value!r} is not a colour like #1b998b")
        return value

    @field_validator("sla")
    @classmethod
    def _sla(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for stage, text in (value or {}).items():
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
            StageLimit.parse(text)
        return value


def _entry(code: str, zh: str, en: str, colour: str | None = None, icon: str | None = None) -> CategoryConfig:
    return CategoryConfig(code=code, zh=zh, en=en, colour=colour, icon=icon)


BUILTIN: tuple[CategoryConfig, ...] = (
    _entry("emergencies", "紧急事件", "Emergencies", "#d7263d", "!"),
    _entry("emergencies.water_logging", "积水内涝", "Water logging"),
    _entry("emergencies.fire", "火情", "Fire"),
    _entry("emergencies.gas_leak", "燃气泄漏", "Gas leak"),
    _entry("emergencies.elevator_entrapment", "电梯困人", "Elevator entrapment"),
    _entry("public_facilities", "公共设施", "Public facilities", "#1b998b", "⚙"),
    _entry("public_facilities.manhole_cover", "井盖异常", "Manhole cover"),
    _entry("public_facilities.street_light", "路灯故障", "Street light out"),
    _entry("public_facilities.electrical_cabinet", "配电柜异常", "Electrical cabinet"),
    _entry("public_facilities.elevator", "电梯故障", "Elevator fault"),
    _entry("public_facilities.pump", "水泵异常", "Pump"),
    _entry("environment", "环境卫生", "Environment", "#2e86ab", "♻"),
    _entry("environment.garbage", "垃圾满溢", "Garbage overflowing"),
    _entry("environment.illegal_dumping", "乱倒垃圾", "Illegal dumping"),
    _entry("environment.temperature_humidity", "温湿度异常", "Temperature or humidity"),
    _entry("streets", "街面秩序", "Streets", "#f46036", "⛔"),
    _entry("streets.illegal_parking", "违章停车", "Illegal parking"),
    _entry("streets.road_damage", "道路破损", "Road damage"),
    _entry("fire_safety", "消防安全", "Fire safety", "#c5283d", "🧯"),
    _entry("fire_safety.fire_lane_blocked", "消防通道占用", "Fire lane blocked"),
    _entry("fire_safety.hydrant", "消火栓异常", "Hydrant"),
    _entry("fire_safety.smoke_detector", "烟感报警", "Smoke detector"),
    _entry("public_security", "治安防范", "Public security", "#5c4d7d", "🔒"),
    _entry("public_security.access_door", "门禁异常", "Access door"),
    _entry("security", "视频安防", "Video security", "#5c4d7d", "◉"),
    _entry("security.intrusion", "区域入侵", "Intrusion"),
    _entry("security.line_crossing", "越线", "Line crossing"),
    _entry("security.loitering", "长时间逗留", "Loitering"),
    _entry("public_order", "公共秩序", "Public order", "#e9724c", "⚑"),
    _entry("public_order.gathering", "人员聚集", "Crowd gathering"),
    _entry("devices", "设备运维", "Devices", "#6c757d", "⚠"),
    _entry("devices.offline", "设备离线", "Device offline"),
    _entry("devices.battery_low", "电量低", "Battery low"),
    _entry("devices.sensor_fault", "传感器故障", "Sensor fault"),
    _entry("devices.camera_tamper", "摄像机遮挡或移位", "Camera tampered"),
)


def merged(custom: Iterable[CategoryConfig]) -> list[CategoryConfig]:
    """The built-in catalogue with `custom` added or replacing by code; ValueError naming what is wrong."""
    entries = {c.code: c for c in BUILTIN}
    seen: set[str] = set()
    for entry in custom:
        if entry.code in seen:
            raise ValueError(f"category {entry.code!r} is listed twice")
        seen.add(entry.code)
        entries[entry.code] = entry
    for code in entries:
        group = code.rpartition(".")[0]
        if group and group not in entries:
            raise ValueError(f"category {code!r} needs its group {group!r} in the catalogue")
    return sorted(entries.values(), key=lambda c: c.code)


@dataclass(frozen=True)
class Catalogue:
    entries: dict[str, CategoryConfig]

    @classmethod
    def of(cls, categories: Iterable[CategoryConfig]) -> Catalogue:
        return cls({c.code: c for c in categories})

    def _lineage(self, code: str) -> list[CategoryConfig]:
        """The catalogued entries of `code` and its groups, nearest first."""
        out = []
        while code:
            if code in self.entries:
                out.append(self.entries[code])
            code = code.rpartition(".")[0]
        return out

    def name(self, code: str, lang: Literal["zh", "en"] = "zh") -> str:
        """The name people read; an uncatalogued code is its nearest group's name and its last part."""
        entry = self.entries.get(code)
        if entry is not None:
            return entry.zh if lang == "zh" else entry.en
        lineage = self._lineage(code)
        tail = code.rpartition(".")[2].replace("_", " ")
        if not lineage:
            return tail or code
        group = lineage[0]
        return f"{group.zh if lang == 'zh' else group.en} · {tail}"

    def both(self, code: str) -> str:
        """Chinese and English, for robot messages and print: 积水内涝 Water logging."""
        return f"{self.name(code, 'zh')} {self.name(code, 'en')}"

    def colour(self, code: str) -> str | None:
        return self._inherited(code, "colour")

    def icon(self, code: str) -> str | None:
        return self._inherited(code, "icon")

    def _inherited(self, code: str, attr: Literal["colour", "icon"]) -> str | None:
        return next((v for e in self._lineage(code) if (v := getattr(e, attr)) is not None), None)

    def describe(self) -> list[dict[str, Any]]:
        """Every entry as the API lists it (colour and icon resolved through the groups)."""
        return [
            {
                "code": c.code,
                "zh": c.zh,
                "en": c.en,
                "parent": c.code.rpartition(".")[0] or None,
                "colour": self.colour(c.code),
                "icon": self.icon(c.code),
            }
            for c in self.entries.values()
        ]
