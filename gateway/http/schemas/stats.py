"""Figures for command centres: weekly hotspots, the period summary and time series."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from wangge.gateway.http.inputs import Blank, QueryModel
from wangge.gateway.http.schemas.common import Out


def _plausible(moment: datetime) -> datetime:
    """A period bound a calendar can hold in every time zone (year 9999 UTC is year 10000 in Shanghai)."""
    if not 1970 <= moment.year <= 2999:
        raise ValueError("must be between the years 1970 and 2999")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]


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
    since: Annotated[Moment | None, Blank] = Field(default=None, description="default: 30 days ago")
    until: Annotated[Moment | None, Blank] = Field(default=None, description="default: now")


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


class ChannelIntake(Out):
    channel: str = Field(description="resident, open311, grid_worker, camera, sensor, edge")
    cases: int = Field(description="cases it opened in the period (not merged into another)")
    reports: int = Field(description="people's reports in the period; for alerts, the cases")
    joined: int = Field(description="reports that joined an open case nearby as they came in")
    merged: int = Field(description="cases merged into another by an operator")
    duplicate_share: float | None = Field(description="(joined + merged) / reports")
    registered: int
    register_median_s: float | None = Field(description="median time from report to 立案")


class Summary(Out):
    since: datetime
    until: datetime
    by_state: dict[str, int]
    open_by_light: dict[str, int]
    by_region: list[RegionRates]
    by_category: list[CategoryRates]
    stage_seconds: dict[str, StageSeconds]
    by_channel: list[ChannelIntake] = Field(description="intake per channel")
    false_alarms: list[FalseAlarms]


class SeriesQuery(QueryModel):
    since: Annotated[Moment | None, Blank] = Field(default=None, description="default: 30 days before until")
    until: Annotated[Moment | None, Blank] = Field(default=None, description="default: now")
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
    window: Annotated[Literal["7d", "30d", "90d", "365d"] | None, Blank] = Field(
        default=None,
        description="the last 7/30/90/365 days, from a snapshot at most twice cases.cluster_snapshots.refresh_s"
        " old (computed_at says when); instead of since/until",
    )
    since: Annotated[Moment | None, Blank] = Field(default=None, description="default: 90 days before until")
    until: Annotated[Moment | None, Blank] = Field(default=None, description="default: now")
    place: Literal["cell", "grid", "building"] = Field(
        default="cell",
        description="a cell of radius_m metres (cells stand alone, not merged with neighbours), a grid, a building",
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
    window: str | None = Field(description="the rolling window answered, or null for since/until")
    computed_at: datetime = Field(description="when these figures were counted (a window's: its snapshot's until)")
    place: str
    items: list[Cluster]


class IndicatorQuery(QueryModel):
    since: Annotated[Moment | None, Blank] = Field(default=None, description="default: 30 days before until")
    until: Annotated[Moment | None, Blank] = Field(default=None, description="default: now")
    by: Literal["region", "department", "category", "group", "rule", "device"] = Field(
        default="region", description="the grouping of the rows (group: a category's first part)"
    )
    level: Literal["district", "street", "community", "grid"] = Field(
        default="street", description="by=region: the level of the regions the rows are"
    )


class IndicatorCounts(Out):
    reported: int = Field(description="opened in the period (上报数)")
    invalid: int = Field(description="found a false alarm before registration (不予立案)")
    registered: int = Field(description="立案数")
    due_to_handle: int = Field(description="应处置数: dispatched, not a false alarm")
    handled: int = Field(description="处置数")
    handled_on_time: int = Field(description="按期处置数")
    due_to_close: int = Field(description="应结案数: registered, not a false alarm")
    closed: int = Field(description="结案数")
    closed_on_time: int = Field(description="按期结案数")
    reworked: int = Field(description="返工数: sent back by 核查 at least once")
    overdue_pending: int = Field(description="超期待处置数: past the handling deadline, not yet handled")
    extended: int = Field(description="延期数: given an extension")
    rated: int
    satisfied: int = Field(description="rated satisfied or basically satisfied")
    false_alarms: int


class IndicatorRates(Out):
    register_rate: float | None = Field(description="立案率 = registered / (reported − invalid)")
    handle_rate: float | None = Field(description="处置率 = handled / due_to_handle")
    on_time_handle_rate: float | None = Field(description="按期处置率 = handled_on_time / due_to_handle")
    close_rate: float | None = Field(description="结案率 = closed / due_to_close")
    on_time_close_rate: float | None = Field(description="按期结案率 = closed_on_time / due_to_close")
    rework_rate: float | None = Field(description="返工率 = reworked / due_to_close")
    overdue_pending_rate: float | None = Field(description="超期待处置率 = overdue_pending / due_to_handle")
    extension_rate: float | None = Field(description="延期率 = extended / due_to_handle")
    satisfaction_rate: float | None = Field(description="满意率 = satisfied / rated")
    false_alarm_rate: float | None = Field(description="误报率 = false_alarms / reported")


class StageMeans(Out):
    registering: float | None = Field(description="opened → first registered, mean seconds")
    dispatching: float | None = Field(description="registered → first dispatched")
    handling: float | None = Field(description="dispatched → first handled")
    closing: float | None = Field(description="first handled → first closed (核查 and 结案)")


class IndicatorFigures(Out):
    counts: IndicatorCounts
    rates: IndicatorRates
    stage_mean_s: StageMeans


class IndicatorRow(Out):
    key: str | None = Field(description="region code, department, category (code), rule or device; null: none")
    name: str | None = Field(description="the region's name (by=region)")
    current: IndicatorFigures
    previous: IndicatorFigures = Field(description="the period of equal length just before")
    change: dict[str, float | None] = Field(description="each rate's change against the previous period")


class Indicators(Out):
    since: datetime
    until: datetime
    as_of: datetime = Field(description="the moment the period is judged at: its end, or now while it runs")
    previous_since: datetime
    previous_until: datetime
    previous_as_of: datetime
    by: str
    level: str | None
    total: IndicatorRow
    rows: list[IndicatorRow]


class WeeklyQuery(QueryModel):
    week: Annotated[date | None, Blank] = Field(
        default=None, description="the report's Monday (local); default: the last whole week"
    )


class WeeklySectionQuery(WeeklyQuery):
    section: Literal["hotspots", "regions", "departments", "clusters", "overdue"] = Field(
        default="regions", description="which of the report's tables"
    )


class OverdueCase(Out):
    id: int
    title: str
    category: str
    state: str
    department: str | None
    due_at: datetime
    escalation_level: int
    region_name: str | None


class WeeklyReport(Out):
    week: str = Field(description="the report's Monday (local date)")
    since: datetime
    until: datetime
    as_of: datetime
    scope: str = Field(description="the area: the caller's region path")
    level: str = Field(description="the region level of by_region's rows: one below the area's")
    hotspots: list[Hotspot] = Field(description="一周热点: the top 10 categories against the week before")
    by_region: Indicators
    by_department: Indicators
    clusters: list[Cluster] = Field(description="the top 10 类案 clusters by grid")
    overdue: list[OverdueCase] = Field(description="open and past their deadline now, longest first (at most 100)")
    overdue_total: int
