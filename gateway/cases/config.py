"""The `cases:` section of gateway.yaml: working-time calendar, SLA limits, routes, recurrence."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from wangge.configfile import StrictModel
from wangge.gateway.cases.calendar import WorkCalendar
from wangge.gateway.cases.categories import Catalogue, CategoryConfig, merged
from wangge.gateway.cases.sla import STAGES, SlaPolicy, StageLimit

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


class SlaConfig(StrictModel):
    """Limits for categories starting with `category` (empty: every category); the longest prefix wins."""

    category: str = ""
    clock: Literal["work", "wall"] = "work"
    limits: dict[str, str]

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, str]) -> dict[str, str]:
        for stage, text in value.items():
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
            StageLimit.parse(text)
        return value

    def policy(self) -> SlaPolicy:
        return SlaPolicy(self.category, self.clock, {k: StageLimit.parse(v) for k, v in self.limits.items()})


class RouteConfig(StrictModel):
    """三事分流: who handles a category (prefix) in a region subtree (a region code; empty: anywhere)."""

    category: str = ""
    region: str = ""
    department: str = Field(min_length=1, max_length=200)
    matter: Literal["big", "small", "private"] = "small"


DEFAULT_SLA = [
    SlaConfig(
        limits={"register": "1h", "dispatch": "2h", "accept": "4h", "handle": "3d", "verify": "1d", "close": "1d"}
    ),
    SlaConfig(
        category="emergencies",
        clock="wall",
        limits={"register": "10m", "dispatch": "15m", "accept": "30m", "handle": "4h", "verify": "2h", "close": "4h"},
    ),
]
# 治理专项: a root-cause case works on a place for weeks, not hours; it starts registered (its opening is the
# 立案), so it has no register limit.
DEFAULT_ROOT_CAUSE_SLA = SlaConfig(
    category="", limits={"dispatch": "1d", "accept": "2d", "handle": "20d", "verify": "3d", "close": "2d"}
)


class WeeklyReportConfig(StrictModel):
    """周报: sent each week to the webhook and robot subscriptions that take `report.weekly`."""

    enabled: bool = True
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    at: str = Field(default="09:00", description="local time (cases.timezone) it is sent, for the week before")
    console_url: str | None = Field(
        default=None,
        description="the console's address people open, for the report's link (e.g. https://grid.example.gov)",
    )

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        match = re.match(r"^(\d{2}):(\d{2})$", value)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError(f"{value!r} is not a time like 09:00")
        return value

    @field_validator("console_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    def send_time(self) -> tuple[int, time]:
        hours, minutes = self.at.split(":")
        return _WEEKDAYS[self.weekday], time(int(hours), int(minutes))


class DuplicatesConfig(StrictModel):
    """A report of the same category this near an open case, within this time of its latest report, joins it."""

    enabled: bool = True
    distance_m: float = Field(default=50, gt=0, le=5000, description="metres from the open case's position")
    window_h: float = Field(default=72, gt=0, le=24 * 365, description="hours since the case's latest report")


class ClusterSnapshotConfig(StrictModel):
    """类案 over the rolling windows (window=7d/30d/90d/365d) comes from snapshots kept this fresh in the
    background (gateway/cases/cluster_snapshots.py); other periods are computed on request."""

    refresh_s: float = Field(default=300, ge=30, le=86400, description="a window's snapshot is recomputed this often")
    keep_h: float = Field(default=24, gt=0, le=24 * 90, description="a window nobody asked for this long is dropped")


class CasesConfig(StrictModel):
    timezone: str = "Asia/Shanghai"
    work_hours: list[str] = Field(default_factory=lambda: ["09:00-12:00", "13:30-18:00"], min_length=1)
    weekend: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["sat", "sun"]  # type: ignore[arg-type]
    )
    holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list, description="weekend days worked (调休)")
    yellow_share: float = Field(default=0.8, gt=0, lt=1)
    reopen_window_h: float = Field(default=72, ge=0, le=24 * 365)
    rating_window_h: float = Field(
        default=168, gt=0, le=24 * 365, description="a resident may rate a closure this long after it (once)"
    )
    recurring_count: int = Field(default=3, ge=2, le=1000, description="this many tickets of a category ...")
    recurring_days: int = Field(default=30, ge=1, le=365, description="... at one place within this many days")
    escalation_interval_s: float = Field(default=30, ge=1, le=3600)
    token_hours: float = Field(default=12, gt=0, le=24 * 90)
    sla: list[SlaConfig] = Field(default_factory=lambda: list(DEFAULT_SLA))
    routes: list[RouteConfig] = Field(default_factory=list)
    weekly_report: WeeklyReportConfig = Field(default_factory=WeeklyReportConfig)
    duplicates: DuplicatesConfig = Field(default_factory=DuplicatesConfig)
    cluster_snapshots: ClusterSnapshotConfig = Field(default_factory=ClusterSnapshotConfig)
    root_cause_sla: SlaConfig = Field(
        default=DEFAULT_ROOT_CAUSE_SLA, description="治理专项: the time limits of root-cause cases (any category)"
    )
    categories: list[CategoryConfig] = Field(
        default_factory=list, description="categories added to the built-in catalogue, or replacing one by code"
    )

    @field_validator("categories")
    @classmethod
    def _catalogue(cls, value: list[CategoryConfig]) -> list[CategoryConfig]:
        merged(value)
        return value

    def catalogue(self) -> Catalogue:
        return Catalogue.of(merged(self.categories))

    def all_sla(self) -> list[SlaConfig]:
        """The `sla:` policies, plus each catalogued category's own limits where `sla:` has none for it."""
        explicit = {s.category for s in self.sla}
        own = [
            SlaConfig(category=c.code, clock=c.clock, limits=c.sla)
            for c in merged(self.categories)
            if c.sla is not None and c.code not in explicit
        ]
        return [*self.sla, *own]

    def all_routes(self) -> list[RouteConfig]:
        """The `routes:`, plus each catalogued category's department as its route anywhere (a region's
        route for the same category still wins: it is more specific)."""
        anywhere = {r.category for r in self.routes if not r.region}
        own = [
            RouteConfig(category=c.code, department=c.department)
            for c in merged(self.categories)
            if c.department is not None and c.code not in anywhere
        ]
        return [*self.routes, *own]

    @field_validator("work_hours")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for text in value:
            match = _WINDOW.match(text)
            if not match or not (
                int(match[1]) < 24 and int(match[3]) < 24 and int(match[2]) < 60 and int(match[4]) < 60
            ):
                raise ValueError(f"{text!r} is not a window like 09:00-12:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _calendar_is_sane(self) -> CasesConfig:
        self.calendar()
        return self

    def calendar(self) -> WorkCalendar:
        windows = []
        for text in self.work_hours:
            m = _WINDOW.match(text)
            assert m is not None
            windows.append((time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))))
        return WorkCalendar(
            timezone=self.timezone,
            windows=tuple(windows),
            weekend=frozenset(_WEEKDAYS[d] for d in self.weekend),
            holidays=frozenset(self.holidays),
            extra_workdays=frozenset(self.extra_workdays),
        )
