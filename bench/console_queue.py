"""The operator console's queue page with 10,000 open tickets, in headless Chromium (Debian's chromium, driven by
Playwright), against the real HTTP API on PostgreSQL 16 (pgserver).

Three figures for the same first page (200 rows, sorted by light then due time), medians of --loads runs:
  queue_load_ms  navigation start → the queue rendered in the browser (HTML, scripts, config, regions, tickets)
  api_ms         GET /api/v1/tickets over HTTP (the page's data request, counts per light included)
  sql_floor_ms   the two SQL statements behind it, straight through asyncpg (the floor)

  python bench/console_queue.py [--tickets 10000] [--loads 7]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from wangge.gateway.accounts.tokens import issue_token  # noqa: E402
from wangge.gateway.accounts.users import create_user  # noqa: E402
from wangge.gateway.cases import registry  # noqa: E402
from wangge.gateway.http.app import create_app  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402
from wangge.gateway.storage.migrations import migrate  # noqa: E402
from wangge.gateway.storage.pool import create_pool  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
COMMUNITY = "990101001001"
FLOOR_SQL = (
    "SELECT t.*, CASE WHEN t.due_at IS NULL THEN 3 WHEN $1 >= t.due_at THEN 0 WHEN $1 >= t.yellow_at THEN 1"
    " ELSE 2 END AS rank FROM tickets t WHERE t.region_path LIKE $2 AND t.closed_at IS NULL"
    " ORDER BY rank, t.due_at, t.id LIMIT 201"
)
COUNT_SQL = (
    "SELECT CASE WHEN t.due_at IS NULL THEN 'none' WHEN $1 >= t.due_at THEN 'red' WHEN $1 >= t.yellow_at"
    " THEN 'yellow' ELSE 'green' END, count(*) FROM tickets t WHERE t.region_path LIKE $2 AND t.closed_at IS NULL"
    " GROUP BY 1"
)


async def seed(conn: Any, tickets: int) -> tuple[str, str]:
    demo = resources.files("wangge.demo")
    await registry.import_regions(conn, demo.joinpath("regions.geojson").read_text("utf-8"), "regions.geojson")
    user = await create_user(conn, "bench-operator", "bench-password-1", "operator", COMMUNITY)
    token = await issue_token(conn, "bench", user_id=user)
    await conn.execute(
        "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
        " opened_at, updated_at, due_at, yellow_at, lat, lon)"
        " SELECT 'bulk/' || i, 'environment.garbage', 'minor', '垃圾 bulk ' || i, 'report', r.id, r.path,"
        " 'registered', now() - interval '2 hours', now(),"
        " now() + ((i % 3) - 1) * interval '1 hour' + i * interval '1 second',"
        " now() + ((i % 3) - 1) * interval '1 hour' - interval '30 minutes', 22.51, 113.91"
        " FROM generate_series(1, $1) i, regions r WHERE r.code = $2 || '001'",
        tickets,
        COMMUNITY,
    )
    await conn.execute("ANALYZE tickets")
    path = await conn.fetchval("SELECT path FROM regions WHERE code = $1", COMMUNITY)
    return token, str(path)


def browser_loads(base: str, token: str, loads: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for i in range(loads + 1):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            started = time.perf_counter()
            page.goto(f"{base}/#token={token}")
            page.wait_for_function("document.body.dataset.queueRows === '200'", timeout=30000)
            if i:  # the first load warms the server's and the browser's caches
                times.append((time.perf_counter() - started) * 1000)
            context.close()
        browser.close()
    return times


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wangge-console-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        pool = await create_pool(postgres.url)
        async with pool.acquire() as conn:
            await migrate(conn)
            token, path = await seed(conn, args.tickets)
        runner = web.AppRunner(create_app(pool, {}), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"

        api = []
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(args.loads * 3):
                started = time.perf_counter()
                async with http.get(f"{base}/api/v1/tickets?state=open&limit=200") as resp:
                    body = await resp.json()
                api.append((time.perf_counter() - started) * 1000)
        assert len(body["items"]) == 200 and sum(body["light_counts"].values()) == args.tickets
        floor = []
        async with pool.acquire() as conn:
            for _ in range(args.loads * 3):
                started = time.perf_counter()
                now = datetime.now(UTC)
                await conn.fetch(FLOOR_SQL, now, path + "%")
                await conn.fetch(COUNT_SQL, now, path + "%")
                floor.append((time.perf_counter() - started) * 1000)

        result: dict[str, list[float]] = {}
        done = threading.Event()

        def in_thread() -> None:
            result["page"] = browser_loads(base, token, args.loads)
            done.set()

        thread = threading.Thread(target=in_thread)
        thread.start()
        while not done.is_set():
            await asyncio.sleep(0.05)  # keep serving the browser from this loop
        thread.join()
        await runner.cleanup()
        await pool.close()
        postgres.stop()
    return {
        "queue_load_ms": statistics.median(result["page"]),
        "api_ms": statistics.median(api),
        "sql_floor_ms": statistics.median(floor),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    figures = asyncio.run(main_async(args))
    ratio = figures["api_ms"] / figures["sql_floor_ms"]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"open tickets: {args.tickets}, first page 200 rows, medians of {args.loads} browser loads")
    print(f"browser: navigation → queue rendered   {figures['queue_load_ms']:8.1f} ms")
    print(f"api: GET /api/v1/tickets (first page)  {figures['api_ms']:8.1f} ms")
    print(f"floor: the same SQL through asyncpg    {figures['sql_floor_ms']:8.1f} ms  (api/floor {ratio:.2f}x)")
    print(
        f"queue_load_ms={figures['queue_load_ms']:.0f} api_ms={figures['api_ms']:.1f}"
        f" sql_floor_ms={figures['sql_floor_ms']:.1f} api_floor_ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
