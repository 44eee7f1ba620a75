"""The demo's eight weeks of history, made through the real workflow on the demo district: every page that
reads history has something to show, the figures are consistent with the cases, and it is made only once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.gateway import world as w
from wangge.demo.history import DAYS, HOT_SPOTS, seed_history
from wangge.gateway.cases.rules import default_rules

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # a Monday, noon in Asia/Shanghai


def test_demo_history_fills_statistics_indicators_clusters_and_the_weekly_report(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        started = time.perf_counter()
        made = await seed_history(pool, default_rules(), NOW)
        took = time.perf_counter() - started
        assert DAYS * 3 <= made <= DAYS * 9 and took < 120, (made, took)  # a few cases a day, in seconds
        assert await seed_history(pool, default_rules(), NOW) == 0  # once: the database has cases now
        states = {r["state"]: r["n"] for r in await pool.fetch("SELECT state, count(*) AS n FROM tickets GROUP BY 1")}
        assert states["closed"] > made / 2 and states["cancelled"] > 0  # most went through, a few false alarms
        assert sum(n for s, n in states.items() if s not in ("closed", "cancelled")) > 0  # the recent ones are open
        assert await pool.fetchval("SELECT max(opened_at) FROM tickets") < NOW  # nothing from the future
        assert await pool.fetchval("SELECT count(*) FROM tickets WHERE region_id IS NULL") == 0  # all placed

        auth = world.auth("district-supervisor")
        body = await (await client.get("/api/v1/stats/weekly?week=2026-11-23", headers=auth)).json()
        reported = body["by_region"]["total"]["current"]["counts"]["reported"]
        assert body["hotspots"] and 7 * 2 <= reported <= 7 * 10
        rates = body["by_region"]["total"]["current"]["rates"]
        assert all(v is None or 0.0 <= v <= 1.0 for v in rates.values())
        assert rates["close_rate"] is not None and rates["close_rate"] > 0.3
        categories = {
            c["category"]
            for c in (
                await (
                    await client.get(
                        "/api/v1/stats/clusters?since=2026-10-01T00:00:00Z&until=2026-11-30T00:00:00Z&place=cell",
                        headers=auth,
                    )
                ).json()
            )["items"]
        }
        assert {c for c, *_ in HOT_SPOTS} <= categories  # the places that keep coming back are clusters
        # The facts the indicators read agree with the history they were folded from.
        kept = [dict(r) for r in await pool.fetch("SELECT * FROM ticket_facts ORDER BY ticket_id")]
        await pool.execute("UPDATE ticket_facts SET closed_at = NULL, late_at = NULL")
        await pool.execute("SELECT wangge_refold_ticket_facts(NULL)")
        assert [dict(r) for r in await pool.fetch("SELECT * FROM ticket_facts ORDER BY ticket_id")] == kept
        assert any(k["late_at"] for k in kept) and any(k["extended_at"] for k in kept)

    w.run_api(database_url, scenario, clock=lambda: NOW)
