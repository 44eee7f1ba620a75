"""Opened / closed / overdue per local day and ISO week, per category group, over the caller's area: a hand-made
history whose buckets are worked out below from the times (Asia/Shanghai is UTC+8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.gateway import world as w

# (name, category, region code, opened (UTC), closed (UTC) or None, overdue event (UTC) or None)
HISTORY = [
    ("A", "emergencies.water_logging", w.GRID_1, "2026-11-02T15:30Z", "2026-11-02T16:30Z", None),  # 11-02 23:30 local
    ("B", "emergencies.fire", w.GRID_1, "2026-11-02T16:30Z", None, "2026-11-04T02:00Z"),  # 11-03 00:30 local
    ("C", "environment.garbage", w.GRID_1, "2026-11-04T01:00Z", None, None),  # 11-04 09:00
    ("D", "environment.garbage", w.GRID_2, "2026-11-04T01:00Z", None, None),  # another community
    ("E", "streets.road_damage", w.GRID_1, "2026-10-31T23:00Z", None, None),  # Sunday 11-01 07:00 local
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def plant(pool: Any) -> None:
    for name, category, region, opened, closed, overdue in HISTORY:
        tid = await pool.fetchval(
            "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
            " opened_at, updated_at, closed_at)"
            " SELECT $1, $2, 'minor', $1, 'report', r.id, r.path, $4, $5, $5, $6 FROM regions r WHERE r.code = $3"
            " RETURNING id",
            f"series/{name}",
            category,
            region,
            "closed" if closed else "registered",
            at(opened),
            at(closed) if closed else None,
        )
        if overdue:
            await pool.execute(
                "INSERT INTO ticket_events (ticket_id, at, actor, kind) VALUES ($1, $2, 'system', 'ticket.overdue')",
                tid,
                at(overdue),
            )


def counts(opened: int, closed: int, overdue: int) -> dict[str, int]:
    return {"opened": opened, "closed": closed, "overdue": overdue}


def test_series_per_local_day_and_week_by_category_group_in_the_callers_area(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        await plant(pool)

        async def get(who: str, query: str) -> Any:
            resp = await client.get(f"/api/v1/stats/series?{query}", headers=world.auth(who))
            return resp.status, await resp.json()

        days = "since=2026-11-01T16:00:00Z&until=2026-11-05T16:00:00Z"  # local 11-02 00:00 .. 11-06 00:00
        status, body = await get("c1-operator", days)
        assert status == 200 and body["timezone"] == "Asia/Shanghai" and body["interval"] == "day"
        assert [b["start"] for b in body["buckets"]] == ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
        assert [counts(b["opened"], b["closed"], b["overdue"]) for b in body["buckets"]] == [
            counts(1, 0, 0),  # A opened 23:30 local
            counts(1, 1, 0),  # B opened 00:30 local; A closed 00:30 local
            counts(1, 0, 1),  # C opened; B went overdue
            counts(0, 0, 0),  # an empty day is still a bucket
        ]
        assert [b["by_group"] for b in body["buckets"]] == [
            {"emergencies": counts(1, 0, 0)},
            {"emergencies": counts(1, 1, 0)},
            {"emergencies": counts(0, 0, 1), "environment": counts(1, 0, 0)},
            {},
        ]
        _, district = await get("district-supervisor", days)
        assert district["buckets"][2]["opened"] == 2  # C and D: the district sees both communities
        assert district["buckets"][2]["by_group"]["environment"] == counts(2, 0, 0)

        weeks = "since=2026-10-25T16:00:00Z&until=2026-11-08T16:00:00Z&interval=week"  # Mon 10-26 .. Mon 11-09
        _, body = await get("c1-operator", weeks)
        assert [(b["start"], b["opened"], b["closed"], b["overdue"]) for b in body["buckets"]] == [
            ("2026-10-26", 1, 0, 0),  # E, on the Sunday 11-01 local: still the week from Monday 10-26
            ("2026-11-02", 3, 1, 1),
        ]

        assert (await get("c1-worker", days))[0] == 403  # an office figure
        assert (await get("c1-operator", "since=2026-11-05T00:00:00Z&until=2026-11-01T00:00:00Z"))[0] == 400
        assert (await get("c1-operator", "since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z"))[0] == 400

    w.run_api(database_url, scenario)
