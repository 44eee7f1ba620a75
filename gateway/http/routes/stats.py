"""Figures for command centres over the caller's area."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from wangge.gateway.cases.clusters import clusters
from wangge.gateway.cases.stats import MAX_BUCKETS, hotspots, series, summary
from wangge.gateway.http.context import CLOCK, POOL, RULES, principal_of, require_role
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.stats import (
    ClusterQuery,
    Clusters,
    HotspotQuery,
    Hotspots,
    Series,
    SeriesQuery,
    Summary,
    SummaryQuery,
)
from wangge.gateway.http.spec import RouteTable, json_reply

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
    since, until = _period(request, query.since, query.until, timedelta(days=90), timedelta(days=731))
    async with request.app[POOL].acquire() as conn:
        items = await clusters(
            conn,
            principal.scope,
            since,
            until,
            query.place,
            query.radius_m,
            query.by == "group",
            query.min_count,
            query.limit,
        )
    return json_response({"since": since, "until": until, "place": query.place, "items": items})


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
