"""Figures for command centres: weekly hotspots, the period summary and time series."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from wangge.gateway.http.inputs import Blank, QueryModel
from wangge.gateway.http.schemas.common import Out


class HotspotQuery(QueryModel):
    days: int = Field(default=7, ge=1, le=90, description="the window, against the same window before it")


class Hotspot(Out):
    rank: int
    category: str
    count: int
    share: float
    previous_count: int
    previous_share: float
    share_change: float


class Hotspots(Out):
    days: int
    items: list[Hotspot]


class SummaryQuery(QueryModel):
    since: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="default: 30 days ago")
    until: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="default: now")


class Rates(Out):
    created: int
    closed: int
    on_time: int
    closure_rate: float | None
    on_time_closure_rate: float | None


class RegionRates(Rates):
    region: str


class CategoryRates(Rates):
    category: str


class StageSeconds(Out):
    mean: float
    p90: float
    n: int


class FalseAlarms(Out):
    rule_id: str | None
    device_id: str | None
    tickets: int
    false_alarms: int
    rate: float


class Summary(Out):
    since: datetime
    until: datetime
    by_state: dict[str, int]
    open_by_light: dict[str, int]
    by_region: list[RegionRates]
    by_category: list[CategoryRates]
    stage_seconds: dict[str, StageSeconds]
    false_alarms: list[FalseAlarms]


class SeriesQuery(QueryModel):
    since: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="default: 30 days before until")
    until: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="default: now")
    interval: Literal["day", "week"] = Field(default="day", description="local days, or ISO weeks from Monday")


class SeriesCounts(Out):
    opened: int
    closed: int
    overdue: int


class SeriesBucket(Out):
    start: str = Field(description="the bucket's first local date (a Monday for weeks)")
    opened: int
    closed: int
    overdue: int
    by_group: dict[str, SeriesCounts] = Field(description="per category group (the code's first part)")


class Series(Out):
    since: datetime
    until: datetime
    interval: str
    timezone: str
    buckets: list[SeriesBucket]


class ClusterQuery(QueryModel):
    since: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="default: 90 days before until")
    until: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="default: now")
    place: Literal["cell", "grid", "building"] = Field(
        default="cell", description="within radius_m (cells of that size, neighbours merged), a grid, a building"
    )
    radius_m: float = Field(default=100, ge=10, le=2000, description="the cell size for place=cell")
    by: Literal["category", "group"] = Field(default="category", description="one category, or its group")
    min_count: int = Field(default=3, ge=2, le=1000, description="tickets in the period to count as a cluster")
    limit: int = Field(default=100, ge=1, le=500)


class Cluster(Out):
    rank: int
    category: str
    place: str = Field(description="cell:x:y, a grid's region code or a building code")
    place_name: str | None
    count: int
    previous_count: int = Field(description="in the period of equal length before")
    change: int
    lat: float | None
    lon: float | None
    first_at: datetime | None
    last_at: datetime | None
    ticket_ids: list[int] = Field(description="the newest 20, for the drill-down")


class Clusters(Out):
    since: datetime
    until: datetime
    place: str
    items: list[Cluster]
