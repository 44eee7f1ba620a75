"""Figures for command centres over the caller's area."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from wangge.gateway import metrics
from wangge.gateway.cases import exports
from wangge.gateway.cases.cluster_snapshots import WINDOWS, SnapshotKey, window_clusters
from wangge.gateway.cases.clusters import clusters
from wangge.gateway.cases.indicators import Period, indicators
from wangge.gateway.cases.stats import MAX_BUCKETS, hotspots, series, summary
from wangge.gateway.cases.weekly import last_week, weekly_report
from wangge.gateway.http.context import CLOCK, POOL, RULES, principal_of, require_role
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import CSV, XLSX, file_response, json_response
from wangge.gateway.http.schemas.stats import (
    ClusterQuery,
    Clusters,
    HotspotQuery,
    Hotspots,
    IndicatorQuery,
    Indicators,
    Series,
    SeriesQuery,
    Summary,
    SummaryQuery,
    WeeklyQuery,
    WeeklyReport,
    WeeklySectionQuery,
)
from wangge.gateway.http.spec import Reply, RouteTable, json_reply

routes = RouteTable("stats")
OFFICE = ("admin", "supervisor", "operator")


@routes.get(
    "/api/v1/stats/hotspots",
    summary="一周热点: share per category, ranked, against the window before",
    replies=json_reply(Hotspots),
    query=HotspotQuery,
)
async def get_hotspots(request: web.Request, query: HotspotQuery) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    async with request.app[POOL].acquire() as conn:
        items = await hotspots(conn, principal.scope, request.app[CLOCK](), query.days)
    return json_response({"days": query.days, "items": items})


@routes.get(
    "/api/v1/stats/summary",
    summary="Counts, closure and on-time rates, stage times, false alarms",
    replies=json_reply(Summary),
    query=SummaryQuery,
)
async def get_summary(request: web.Request, query: SummaryQuery) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    now = request.app[CLOCK]()
    since = query.since or now - timedelta(days=30)
    until = query.until or now
    async with request.app[POOL].acquire() as conn:
        return json_response(await summary(conn, principal.scope, now, since, until))


@routes.get(
    "/api/v1/stats/series",
    summary="Opened, closed and overdue per local day or week, in total and per category group",
    replies=json_reply(Series),
    query=SeriesQuery,
)
async def get_series(request: web.Request, query: SeriesQuery) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    step = timedelta(days=1 if query.interval == "day" else 7)
    since, until = _period(request, query.since, query.until, timedelta(days=30), MAX_BUCKETS * step)
    timezone = request.app[RULES].calendar.timezone
    async with request.app[POOL].acquire() as conn:
        buckets = await series(conn, principal.scope, timezone, since, until, query.interval)
    return json_response(
        {"since": since, "until": until, "interval": query.interval, "timezone": timezone, "buckets": buckets}
    )


@routes.get(
    "/api/v1/stats/clusters",
    summary="类案: clusters of one category at one place, ranked by count and change against the period before",
    replies=json_reply(Clusters),
    query=ClusterQuery,
)
async def get_clusters(request: web.Request, query: ClusterQuery) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    by_group = query.by == "group"
    if query.window is not None:
        if query.since is not None or query.until is not None:
            raise ProblemError(400, "Bad Request", "window is a period of its own: give it or since/until, not both")
        key = SnapshotKey(principal.scope, query.place, query.radius_m, by_group, WINDOWS[query.window])
        fresh = timedelta(seconds=2 * request.app[RULES].cluster_snapshots.refresh_s)
        async with request.app[POOL].acquire() as conn:
            snapshot, computed = await window_clusters(conn, key, request.app[CLOCK](), fresh)
        metrics.CLUSTER_ANSWERS.labels(source="computed" if computed else "snapshot").inc()
        items = snapshot.cut(query.min_count, query.limit)
        body = {"since": snapshot.since, "until": snapshot.until, "window": query.window}
        return json_response({**body, "computed_at": snapshot.until, "place": query.place, "items": items})
    since, until = _period(request, query.since, query.until, timedelta(days=90), timedelta(days=731))
    async with request.app[POOL].acquire() as conn:
        items = await clusters(
            conn,
            principal.scope,
            since,
            until,
            query.place,
            query.radius_m,
            by_group,
            query.min_count,
            query.limit,
        )
    metrics.CLUSTER_ANSWERS.labels(source="computed").inc()
    asked = {"since": since, "until": until, "window": None, "computed_at": request.app[CLOCK]()}
    return json_response({**asked, "place": query.place, "items": items})


@routes.get(
    "/api/v1/stats/indicators",
    summary="立案率, 处置率, 按期结案率 and the other indicators per region level, department, category, rule or"
    " device, against the period before",
    replies=json_reply(Indicators),
    query=IndicatorQuery,
)
async def get_indicators(request: web.Request, query: IndicatorQuery) -> web.Response:
    return json_response(await _indicators(request, query))


@routes.get(
    "/api/v1/stats/indicators.csv",
    summary="The indicator table (same query) as CSV, worded for people",
    replies=Reply(200, "UTF-8 CSV with a byte-order mark", media_type=CSV),
    query=IndicatorQuery,
)
async def get_indicators_csv(request: web.Request, query: IndicatorQuery) -> web.Response:
    table = await _indicator_table(request, query)
    return file_response(exports.to_csv(table), "csv", "indicators", request.app[CLOCK]())


@routes.get(
    "/api/v1/stats/indicators.xlsx",
    summary="The indicator table (same query) as an Excel workbook",
    replies=Reply(200, "an XLSX workbook", media_type=XLSX),
    query=IndicatorQuery,
)
async def get_indicators_xlsx(request: web.Request, query: IndicatorQuery) -> web.Response:
    table = await _indicator_table(request, query)
    return file_response(exports.to_xlsx(table, "考核指标 Indicators"), "xlsx", "indicators", request.app[CLOCK]())


async def _indicator_table(request: web.Request, query: IndicatorQuery) -> list[list[Any]]:
    return exports.indicator_table(await _indicators(request, query), request.app[RULES].categories)


async def _indicators(request: web.Request, query: IndicatorQuery) -> dict[str, Any]:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    since, until = _period(request, query.since, query.until, timedelta(days=30), timedelta(days=366))
    period = Period(since, until, request.app[CLOCK]())
    async with request.app[POOL].acquire() as conn:
        return await indicators(conn, principal.scope, period, query.by, query.level)


@routes.get(
    "/api/v1/stats/weekly",
    summary="周报: hotspots, indicators per region and department, top clusters and overdue cases of one week",
    replies=json_reply(WeeklyReport),
    query=WeeklyQuery,
)
async def get_weekly(request: web.Request, query: WeeklyQuery) -> web.Response:
    return json_response(await _weekly(request, query))


@routes.get(
    "/api/v1/stats/weekly.xlsx",
    summary="The weekly report as an Excel workbook, one sheet per table",
    replies=Reply(200, "an XLSX workbook", media_type=XLSX),
    query=WeeklyQuery,
)
async def get_weekly_xlsx(request: web.Request, query: WeeklyQuery) -> web.Response:
    tables = await _weekly_tables(request, query)
    return file_response(exports.to_workbook(list(tables.values())), "xlsx", "weekly", request.app[CLOCK]())


@routes.get(
    "/api/v1/stats/weekly.csv",
    summary="One table of the weekly report as CSV",
    replies=Reply(200, "UTF-8 CSV with a byte-order mark", media_type=CSV),
    query=WeeklySectionQuery,
)
async def get_weekly_csv(request: web.Request, query: WeeklySectionQuery) -> web.Response:
    _, table = (await _weekly_tables(request, query))[query.section]
    return file_response(exports.to_csv(table), "csv", f"weekly-{query.section}", request.app[CLOCK]())


async def _weekly_tables(request: web.Request, query: WeeklyQuery) -> dict[str, tuple[str, list[list[Any]]]]:
    rules = request.app[RULES]
    return exports.weekly_tables(await _weekly(request, query), rules.categories, rules.calendar.timezone)


async def _weekly(request: web.Request, query: WeeklyQuery) -> dict[str, Any]:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    rules = request.app[RULES]
    now = request.app[CLOCK]()
    monday = query.week or last_week(now, rules.calendar.timezone)
    if monday.isoweekday() != 1:
        raise ProblemError(400, "Bad Request", f"week must be a Monday; {monday.isoformat()} is not")
    async with request.app[POOL].acquire() as conn:
        return await weekly_report(conn, rules, principal.scope, monday, now)


def _period(
    request: web.Request, since: datetime | None, until: datetime | None, default: timedelta, longest: timedelta
) -> tuple[datetime, datetime]:
    """The asked period, `default` long up to now when unsaid; 400 when reversed or longer than `longest`."""
    end = until or request.app[CLOCK]()
    start = since or end - default
    if not start < end or end - start > longest:
        detail = f"since must be before until, and the period at most {longest.days} days"
        raise ProblemError(400, "Bad Request", detail)
    return start, end
