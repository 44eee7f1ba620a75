"""Hostile query strings at the statistics, indicator, weekly-report and export endpoints, hostile root-cause and
extension requests, and hostile catalogue and weekly-report entries in gateway.yaml, through the real app and
PostgreSQL: a verdict or a 4xx naming the problem, never a 5xx or a crash."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.gateway import world as w
from wangge.gateway.config import GatewayConfig

ENDPOINTS = [
    "/api/v1/stats/series",
    "/api/v1/stats/clusters",
    "/api/v1/tickets/export.csv",
    "/api/v1/tickets/export.xlsx",
    "/api/v1/stats/indicators",
    "/api/v1/stats/indicators.csv",
    "/api/v1/stats/indicators.xlsx",
    "/api/v1/stats/weekly",
    "/api/v1/stats/weekly.csv",
    "/api/v1/stats/weekly.xlsx",
]
NAMES = [
    "since",
    "until",
    "interval",
    "place",
    "radius_m",
    "by",
    "min_count",
    "limit",
    "state",
    "category",
    "q",
    "sort",
    "level",
    "week",
    "section",
    "window",
]
values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "2026-11-01T00:00:00Z",
            "1900-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "day",
            "week",
            "cell",
            "grid",
            "building",
            "group",
            "-1",
            "0",
            "1e309",
            "nan",
            "open",
            "'; DROP TABLE tickets; --",
            "street",
            "community",
            "department",
            "rule",
            "device",
            "2026-11-23",
            "2026-11-24",
            "0001-01-01",
            "regions",
            "overdue",
            "7d",
            "365d",
            "14d",
        ]
    ),
    st.integers(-(10**12), 10**12).map(str),
)
queries = st.lists(st.tuples(st.sampled_from(NAMES), values), max_size=6)


def test_any_query_at_the_statistics_and_export_endpoints_gets_an_answer_or_a_4xx(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        auth = world.auth("district-supervisor")
        urls: list[str] = []  # drawn by Hypothesis, then asked of the running app one by one

        @given(st.sampled_from(ENDPOINTS), queries)
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        def probe(path: str, query: list[tuple[str, str]]) -> None:
            urls.append(path + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query))

        probe()
        for url in urls:
            resp = await client.get(url, headers=auth)
            assert resp.status in (200, 400, 422), (url, resp.status, await resp.text())
            if resp.status != 200:
                assert (await resp.json())["detail"], url
        assert await pool.fetchval("SELECT count(*) FROM regions") > 0  # nothing was harmed

    w.run_api(database_url, scenario)


entries = st.lists(
    st.fixed_dictionaries(
        {"code": st.one_of(st.text(max_size=20), st.sampled_from(["waterworks", "waterworks.burst", "devices"]))},
        optional={
            "zh": st.text(max_size=50),
            "en": st.text(max_size=90),
            "colour": st.one_of(st.text(max_size=9), st.just("#0077b6")),
            "icon": st.text(max_size=6),
            "department": st.text(max_size=10),
            "clock": st.text(max_size=5),
            "sla": st.dictionaries(st.sampled_from(["handle", "fix", "close"]), st.text(max_size=5), max_size=2),
            "extra": st.integers(),
        },
    ),
    max_size=4,
)


@given(entries)
@settings(max_examples=300, deadline=None)
def test_any_catalogue_in_gateway_yaml_is_taken_or_refused_naming_cases_categories(
    custom: list[dict[str, Any]],
) -> None:
    try:
        config = GatewayConfig.model_validate({"cases": {"categories": custom}})
    except ValidationError as exc:
        assert "cases.categories" in str(exc)
        return
    catalogue = config.cases.catalogue()
    for entry in custom:
        assert catalogue.name(entry["code"], "zh") == entry["zh"]  # taken as written


bodies = st.fixed_dictionaries(
    {},
    optional={
        "category": st.one_of(st.text(max_size=30), st.sampled_from(["environment.garbage", "environment"])),
        "by": st.one_of(st.text(max_size=8), st.sampled_from(["category", "group"])),
        "place": st.one_of(st.text(max_size=8), st.sampled_from(["cell", "grid", "building"])),
        "key": st.one_of(
            st.text(max_size=30),
            st.sampled_from(["cell:1:2", "cell:-5:x", "cell:99999999999999999999:1", w.GRID_1, w.GRID_2, "demo-b2"]),
        ),
        "radius_m": st.one_of(
            st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5000), st.text(max_size=4)
        ),
        "since": st.one_of(st.text(max_size=25), st.sampled_from(["2026-11-01T00:00:00Z", "2026-11-01"])),
        "until": st.one_of(st.text(max_size=25), st.sampled_from(["2026-12-01T00:00:00Z", "1900-01-01T00:00:00Z"])),
        "title": st.one_of(st.none(), st.text(max_size=300)),
        "department": st.one_of(st.none(), st.text(max_size=300)),
        "extension": st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["2h", "30d", "31d", "0m", "1.5d"])),
        "close_linked": st.one_of(st.booleans(), st.text(max_size=3)),
        "action": st.sampled_from(["request_extension", "approve_extension", "reject_extension", "close", "comment"]),
        "note": st.one_of(st.none(), st.text(max_size=20)),
    },
)


def test_any_root_cause_or_extension_request_gets_a_case_or_a_4xx(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        ticket = await pool.fetchval(
            "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
            " opened_at, updated_at, lat, lon, due_at, yellow_at) SELECT 'fuzz', 'environment.garbage', 'minor', 't',"
            " 'report', r.id, r.path, 'dispatched', now() - interval '1 day', now(), 22.51, 113.91,"
            " now() + interval '1 hour', now() FROM regions r WHERE r.code = $1 RETURNING id",
            w.GRID_1,
        )
        drawn: list[dict[str, Any]] = []

        @given(bodies)
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        def probe(body: dict[str, Any]) -> None:
            drawn.append(body)

        probe()
        opened = 0
        for body in drawn:
            for url, who in (
                ("/api/v1/root-causes", "street-supervisor"),
                (f"/api/v1/tickets/{ticket}/actions", "c1-worker"),
            ):
                resp = await client.post(url, json=body, headers=world.auth(who))
                assert resp.status in (200, 201, 400, 403, 409, 413, 415, 422), (
                    url,
                    body,
                    resp.status,
                    await resp.text(),
                )
                if resp.status >= 400:
                    assert (await resp.json())["detail"], (url, body)
                opened += resp.status == 201
        roots = await pool.fetchval("SELECT count(*) FROM tickets WHERE source = 'rootcause'")
        assert roots == opened  # a refused request left nothing behind

    w.run_api(database_url, scenario)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "at": st.text(max_size=8),
            "weekday": st.text(max_size=4),
            "console_url": st.text(max_size=30),
            "enabled": st.integers(-1, 2),
        },
    )
)
@settings(max_examples=200, deadline=None)
def test_any_weekly_report_setting_is_taken_or_refused_naming_it(weekly: dict[str, Any]) -> None:
    try:
        config = GatewayConfig.model_validate({"cases": {"weekly_report": weekly}})
    except ValidationError as exc:
        assert "cases.weekly_report" in str(exc)
        return
    weekday, at = config.cases.weekly_report.send_time()
    assert 1 <= weekday <= 7 and at.hour < 24


number_or_junk = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**7), st.text(max_size=6))


@given(st.fixed_dictionaries({}, optional={"refresh_s": number_or_junk, "keep_h": number_or_junk, "extra": st.none()}))
@settings(max_examples=200, deadline=None)
def test_any_cluster_snapshot_setting_is_taken_or_refused_naming_it(snapshots: dict[str, Any]) -> None:
    try:
        config = GatewayConfig.model_validate({"cases": {"cluster_snapshots": snapshots}})
    except ValidationError as exc:
        assert "cases.cluster_snapshots" in str(exc)
        return
    taken = config.cases.cluster_snapshots
    assert 30 <= taken.refresh_s <= 86400 and 0 < taken.keep_h <= 24 * 90  # a job that can run and a bound keep
