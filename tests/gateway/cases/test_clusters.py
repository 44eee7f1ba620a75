"""类案 clusters on a seeded history whose clusters are known by construction: where the tickets were put,
when, and of what category; the expected lists below follow from that, not from the implementation."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.gateway import world as w
from wangge.gateway.cases.cluster_snapshots import refresh

PERIOD = "since=2026-10-31T00:00:00Z&until=2026-11-30T00:00:00Z"  # 30 days; the 30 before are the comparison
CURRENT, PREVIOUS = "2026-11-15T03:00:00Z", "2026-10-15T03:00:00Z"
M = 111_320.0  # metres per degree of latitude (the documented projection: x = lon·cos(lat), y = lat)


def centre(lat: float, lon: float, size: float) -> tuple[float, float]:
    """The centre of the `size`-metre cell holding (lat, lon): the test's spots sit well inside one cell."""
    y = (math.floor(lat * M / size) + 0.5) * size / M
    x = (math.floor(lon * math.cos(math.radians(y)) * M / size) + 0.5) * size
    return y, x / (math.cos(math.radians(y)) * M)


LAT, LON = centre(22.51, 113.91, 100)  # a bin corner in grid 1
DLAT, DLON = centre(22.51 - 1000 / M, 113.91, 500)  # a lane 1 km south
M_LAT, M_LON = 1 / M, 1 / (M * math.cos(math.radians(LAT)))  # one metre

# (name, category, region code, lat, lon, opened, device)
HISTORY: list[tuple[str, str, str, float | None, float | None, str, str | None]] = [
    # A: garbage overflowing at one bin, four times this period within 20 m, once the period before.
    *[("A", "environment.garbage", w.GRID_1, LAT + d * M_LAT, LON + d * M_LON, CURRENT, None) for d in (0, 5, 12, 20)],
    ("A-before", "environment.garbage", w.GRID_1, LAT + 8 * M_LAT, LON, PREVIOUS, None),
    # B: water on the road at the same corner, three times this period (another category: its own cluster).
    *[("B", "emergencies.water_logging", w.GRID_1, LAT, LON + d * M_LON, CURRENT, None) for d in (0, 10, 30)],
    # C: two garbage reports 2 km north, in the other community: a pair, not a cluster at min_count 3.
    *[("C", "environment.garbage", w.GRID_2, LAT + 2000 * M_LAT, LON, CURRENT, None) for _ in range(2)],
    # D: three dumping reports along a lane, 80 m apart: 160 m end to end, so never in one 100 m cell, and
    # in one 500 m cell (the lane sits at that cell's centre).
    *[("D", "environment.illegal_dumping", w.GRID_1, DLAT, DLON + d * M_LON, CURRENT, None) for d in (-80, 0, 80)],
    # E: the lift of building 2 trapping people three times (no location: found by its building).
    *[("E", "emergencies.elevator_entrapment", w.GRID_1, None, None, CURRENT, "elevator-b2") for _ in range(3)],
]


async def plant(pool: Any) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    for i, (name, category, region, lat, lon, opened, device) in enumerate(HISTORY):
        tid = await pool.fetchval(
            "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
            " opened_at, updated_at, lat, lon, device_id)"
            " SELECT $1, $2, 'minor', $1, 'report', r.id, r.path, 'registered', $4, $4,"
            " $5, $6, $7 FROM regions r WHERE r.code = $3 RETURNING id",
            f"{name}/{i}",
            category,
            region,
            at(opened),
            lat,
            lon,
            device,
        )
        ids.setdefault(name, []).append(tid)
    return ids


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def summary(items: list[dict[str, Any]]) -> list[tuple[str, int, int, int]]:
    return [(c["category"], c["count"], c["previous_count"], c["change"]) for c in items]


def test_clusters_by_cell_grid_and_building_ranked_with_their_change(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        ids = await plant(pool)

        async def get(who: str, query: str) -> Any:
            resp = await client.get(f"/api/v1/stats/clusters?{PERIOD}&{query}", headers=world.auth(who))
            return resp.status, await resp.json()

        status, body = await get("district-supervisor", "place=cell&radius_m=100")
        assert status == 200
        assert summary(body["items"]) == [
            ("environment.garbage", 4, 1, 3),  # A: the most, and rising
            ("emergencies.water_logging", 3, 0, 3),  # B; D is spread over several 100 m cells
        ]
        a = body["items"][0]
        assert a["rank"] == 1 and a["ticket_ids"] == sorted(ids["A"], reverse=True)  # newest first
        assert a["lat"] == pytest.approx(LAT + 37 / 4 * M_LAT, abs=1e-6)  # the mean of the four (to 0.1 m)
        assert at(a["first_at"]) == at(a["last_at"]) == at(CURRENT)

        _, pairs = await get("district-supervisor", "place=cell&radius_m=100&min_count=2")
        assert ("environment.garbage", 2, 0, 2) in summary(pairs["items"])  # C, now counted
        _, wide = await get("district-supervisor", "place=cell&radius_m=500")
        assert ("environment.illegal_dumping", 3, 0, 3) in summary(wide["items"])  # the lane, in one cell
        _, top = await get("district-supervisor", "place=cell&radius_m=100&limit=1")
        assert summary(top["items"]) == [("environment.garbage", 4, 1, 3)]

        _, grids = await get("district-supervisor", "place=grid")
        assert [(c["place"], *summary([c])[0]) for c in grids["items"]] == [
            (w.GRID_1, "environment.garbage", 4, 1, 3),
            (w.GRID_1, "emergencies.elevator_entrapment", 3, 0, 3),
            (w.GRID_1, "emergencies.water_logging", 3, 0, 3),
            (w.GRID_1, "environment.illegal_dumping", 3, 0, 3),
        ]
        _, groups = await get("district-supervisor", "place=grid&by=group")
        assert sorted(summary(groups["items"])) == [("emergencies", 6, 0, 6), ("environment", 7, 1, 6)]
        assert [c["category"] for c in groups["items"]] == ["environment", "emergencies"]  # 7 before 6

        _, buildings = await get("district-supervisor", "place=building")
        assert [(c["place"], c["place_name"], c["count"]) for c in buildings["items"]] == [
            ("demo-b2", "2号楼 Building 2", 3)
        ]

        _, theirs = await get("c2-operator", "place=cell&min_count=2")
        assert summary(theirs["items"]) == [("environment.garbage", 2, 0, 2)]  # only their community's pair
        assert (await get("c1-worker", "place=cell"))[0] == 403
        bad = await client.get(
            "/api/v1/stats/clusters?since=2026-11-30T00:00:00Z&until=2026-11-01T00:00:00Z",
            headers=world.auth("district-supervisor"),
        )
        assert bad.status == 400

    w.run_api(database_url, scenario)


def test_rolling_windows_come_from_snapshots_that_say_when_and_are_refreshed(database_url: str) -> None:
    """window=30d on 2026-11-30 is the test's PERIOD: the same clusters as constructed above, from a snapshot that
    stays as it was counted until the refresh job recounts it, and is recounted on request once too old."""
    clock = [at("2026-11-30T00:00:00Z")]

    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        ids = await plant(pool)

        async def get(who: str, query: str) -> Any:
            resp = await client.get(f"/api/v1/stats/clusters?{query}", headers=world.auth(who))
            return resp.status, await resp.json()

        def answers(source: str) -> float:
            return REGISTRY.get_sample_value("wangge_gateway_cluster_answers_total", {"source": source}) or 0.0

        computed, served = answers("computed"), answers("snapshot")
        status, first = await get("district-supervisor", "window=30d&place=cell&radius_m=100")
        assert status == 200 and first["window"] == "30d"
        assert (at(first["since"]), at(first["until"]), at(first["computed_at"])) == (
            at("2026-10-31T00:00:00Z"),
            clock[0],
            clock[0],
        )
        assert summary(first["items"]) == [("environment.garbage", 4, 1, 3), ("emergencies.water_logging", 3, 0, 3)]
        assert answers("computed") == computed + 1
        # Every cut of the one stored list is the exact answer for that period (min_count, limit, place, group).
        for query in (
            "place=cell&radius_m=100&min_count=2",
            "place=cell&radius_m=100&limit=1",
            "place=cell&radius_m=500",
            "place=grid",
            "place=grid&by=group",
            "place=building",
        ):
            _, snap = await get("district-supervisor", f"window=30d&{query}")
            _, live = await get("district-supervisor", f"{PERIOD}&{query}")
            assert snap["items"] == live["items"], query
        _, top = await get("district-supervisor", "window=30d&place=cell&radius_m=100&limit=1")
        assert summary(top["items"]) == [("environment.garbage", 4, 1, 3)] and top["items"][0]["rank"] == 1
        assert answers("snapshot") == served + 3  # the other cell-100 cuts came from the first one's snapshot

        # A fourth water-logging report: the snapshot still says 3 (and when it was counted); the live period 4.
        clock[0] = at("2026-11-30T00:02:00Z")
        await pool.execute(
            "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
            " opened_at, updated_at, lat, lon) SELECT 'B/late', 'emergencies.water_logging', 'minor', 'B', 'report',"
            " r.id, r.path, 'registered', $1, $1, $2, $3 FROM regions r WHERE r.code = $4",
            at(CURRENT),
            LAT,
            LON + 15 * M_LON,
            w.GRID_1,
        )
        _, stale = await get("district-supervisor", "window=30d&place=cell&radius_m=100")
        assert summary(stale["items"])[1] == ("emergencies.water_logging", 3, 0, 3)
        assert at(stale["computed_at"]) == at("2026-11-30T00:00:00Z")
        _, live = await get("district-supervisor", f"{PERIOD}&place=cell&radius_m=100")
        assert summary(live["items"])[0] == ("emergencies.water_logging", 4, 0, 4)  # 4 rising by 4 beats 4 by 3

        # The background pass recounts what is older than refresh_s (300 s), and only that.
        async with pool.acquire() as conn:
            assert await refresh(conn, clock[0], 300, 24) == []  # two minutes old: not due
            clock[0] = at("2026-11-30T00:06:00Z")
            windows = await conn.fetchval("SELECT count(*) FROM cluster_snapshots")
            assert len(await refresh(conn, clock[0], 300, 24)) == windows == 5  # cell 100, cell 500, grid ×2, building
        # A read while a refresh holds the row (another replica recounting it) does not wait for it.
        async with pool.acquire() as other, other.transaction():
            await other.execute("SELECT 1 FROM cluster_snapshots FOR UPDATE")
            _, fresh = await asyncio.wait_for(get("district-supervisor", "window=30d&place=cell&radius_m=100"), 5)
        assert at(fresh["computed_at"]) == clock[0] and at(fresh["since"]) == at("2026-10-31T00:06:00Z")
        assert summary(fresh["items"])[0] == ("emergencies.water_logging", 4, 0, 4)
        assert fresh["items"][0]["ticket_ids"][0] > max(ids["B"])  # the new report is the newest of its cluster

        # With no job running, a snapshot older than twice refresh_s is recounted by the request itself.
        clock[0] = at("2026-11-30T00:17:00Z")
        before = answers("computed")
        _, recounted = await get("district-supervisor", "window=30d&place=cell&radius_m=100")
        assert at(recounted["computed_at"]) == clock[0] and answers("computed") == before + 1

        # Each area has its own: a community operator's window holds only their community's pair.
        _, theirs = await get("c2-operator", "window=30d&place=cell&min_count=2")
        assert summary(theirs["items"]) == [("environment.garbage", 2, 0, 2)]
        assert (await get("c1-worker", "window=30d&place=cell"))[0] == 403
        assert (await get("district-supervisor", f"window=30d&{PERIOD}"))[0] == 400
        assert (await get("district-supervisor", "window=14d"))[0] == 400

        # Windows nobody asked for in keep_h are dropped rather than kept fresh.
        async with pool.acquire() as conn:
            clock[0] = at("2026-12-01T00:10:00Z")  # 24 h after 00:10: only what was asked at 00:17 stays
            await refresh(conn, clock[0], 300, 24)
            kept = await conn.fetch("SELECT scope, place, radius_m FROM cluster_snapshots ORDER BY 1, 2, 3")
        assert [(r["place"], r["radius_m"]) for r in kept] == [("cell", 100.0), ("cell", 100.0)]  # district's, c2's

    w.run_api(database_url, scenario, clock=lambda: clock[0])
