"""The gateway config file (gateway.yaml)."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from wangge.configfile import BrokerUrl, HostPort, StrictModel
from wangge.gateway.cases.calendar import WorkCalendar
from wangge.gateway.cases.sla import STAGES, SlaPolicy, StageLimit

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


class MqttConfig(StrictModel):
    url: BrokerUrl = "mqtt://127.0.0.1:1883"
    client_id: str = Field(
        default="wangge-gateway-1",
        min_length=1,
        max_length=128,
        description="stable per replica: the broker keeps its session across restarts",
    )
    shared_group: str | None = Field(default="gateway", description="None subscribes without $share/")
    batch_max: int = Field(default=500, ge=1, le=10000)
    persistent_session: bool | None = Field(
        default=None,
        description="null: persistent without a shared group, clean with one (a dead replica leaves the group)",
    )

    def persistent(self) -> bool:
        """Mosquitto keeps routing a shared subscription's share to a member whose persistent session
        outlives its process: a replica that died and stays dead would swallow 1/N of the alerts until the
        edges re-send them. A clean session leaves the group the moment the connection drops; what that
        replica had taken but not stored is re-sent by its edge (uplink confirmations, docs/delivery.md)."""
        if self.persistent_session is not None:
            return self.persistent_session
        return self.shared_group is None

    @field_validator("shared_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#")):
            raise ValueError("must be a non-empty name without '/', '+' or '#'")
        return value


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
    recurring_count: int = Field(default=3, ge=2, le=1000, description="this many tickets of a category ...")
    recurring_days: int = Field(default=30, ge=1, le=365, description="... at one place within this many days")
    escalation_interval_s: float = Field(default=30, ge=1, le=3600)
    token_hours: float = Field(default=12, gt=0, le=24 * 90)
    sla: list[SlaConfig] = Field(default_factory=lambda: list(DEFAULT_SLA))
    routes: list[RouteConfig] = Field(default_factory=list)

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
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


DEFAULT_RETRY_SCHEDULE = ["5s", "5m", "30m", "2h", "5h", "10h", "10h", "10h", "10h", "10h", "10h"]


class RetentionConfig(StrictModel):
    """How long each kind of data is kept (days; null keeps it forever) and how often the job runs.

    Alerts and raw alert events go by whole month partitions, so they are kept between `days` and
    `days` + one month. Tickets, their history and people's photos are records and are never expired."""

    interval_s: float = Field(default=3600, gt=0, le=86400)
    partitions_ahead_months: int = Field(default=2, ge=1, le=24)
    alert_events_days: int | None = Field(default=180, ge=1)
    alerts_days: int | None = Field(default=None, ge=1)
    snapshots_days: int | None = Field(default=30, ge=1)
    dead_letters_days: int | None = Field(default=30, ge=1)
    webhook_history_days: int | None = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _events_outlive_nothing(self) -> RetentionConfig:
        events, alerts = self.alert_events_days, self.alerts_days
        if alerts is not None and (events is None or events > alerts):
            raise ValueError("alert_events_days must not exceed alerts_days: an event needs its alert")
        return self


class WebhooksConfig(StrictModel):
    """Delivery: after the first attempt, one more per `retry_schedule` step (about three days by default)."""

    allow_networks: list[str] = Field(
        default_factory=list, description="CIDRs that may be webhook targets although private (e.g. 127.0.0.1/32)"
    )
    connect_timeout_s: float = Field(default=5, gt=0, le=60)
    read_timeout_s: float = Field(default=10, gt=0, le=120)
    retry_schedule: list[str] = Field(default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE), min_length=1)
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_open_s: float = Field(default=60, gt=0, le=86400)
    poll_s: float = Field(default=0.5, gt=0, le=60)
    lease_s: float = Field(default=60, gt=0, le=3600)
    batch: int = Field(default=200, ge=1, le=5000)
    concurrency: int = Field(default=32, ge=1, le=1000)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR range") from None
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: list[str]) -> list[str]:
        for text in value:
            _duration_seconds(text)
        return value

    def schedule_seconds(self) -> list[float]:
        return [_duration_seconds(t) for t in self.retry_schedule]


def _duration_seconds(text: str) -> float:
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$", text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 500ms, 5s, 5m, 2h or 1d")
    return float(match[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


class ConsoleConfig(StrictModel):
    """The operator console's map: no tile server means a plain background (the page works offline)."""

    tile_url: str | None = Field(
        default=None, description="the city's tile server, e.g. https://tiles.example.gov/{z}/{x}/{y}.png"
    )
    tile_attribution: str = Field(default="", max_length=300)
    max_zoom: int = Field(default=19, ge=1, le=22)
    report_categories: list[str] = Field(
        default_factory=lambda: [
            "public_facilities.manhole_cover",
            "public_facilities.street_light",
            "environment.garbage",
            "environment.illegal_dumping",
            "streets.illegal_parking",
            "streets.road_damage",
            "fire_safety.fire_lane_blocked",
            "emergencies.water_logging",
            "emergencies.elevator_entrapment",
        ],
        min_length=1,
        description="what a grid worker can pick in a one-tap report",
    )

    @field_validator("tile_url")
    @classmethod
    def _tiles(cls, value: str | None) -> str | None:
        if value is not None and not all(p in value for p in ("{z}", "{x}", "{y}")):
            raise ValueError("must contain {z}, {x} and {y}")
        if value is not None and not value.startswith(("http://", "https://", "/")):
            raise ValueError("must be an http(s) URL or a path on this gateway")
        return value


class GatewayConfig(StrictModel):
    database_url: str | None = Field(
        default=None, description="postgresql://...; absent: an embedded PostgreSQL under data_dir/pg"
    )
    data_dir: Path = Path("./var/gateway")
    http: HostPort = "127.0.0.1:8080"
    mqtt: MqttConfig = MqttConfig()
    cases: CasesConfig = CasesConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    retention: RetentionConfig = RetentionConfig()
    console: ConsoleConfig = ConsoleConfig()

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value
