"""Hostile query strings at the statistics and export endpoints, and hostile catalogue entries in gateway.yaml,
through the real app and PostgreSQL: a verdict or a 4xx naming the problem, never a 5xx or a crash."""

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
