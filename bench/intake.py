"""Public intake: reports/s through the public API with photos, the duplicate check at scale, and alert latency
while one address floods the report endpoint.

Real parts: a `wangge gateway` process on PostgreSQL (pgserver) and Mosquitto.

1. Throughput: `--clients` clients, each from its own loopback address (127.0.0.N, so no flood limit is met),
   post resident reports back to back for `--seconds`, each with a phone-sized JPEG (1600 x 1200, as the page
   sends it after scaling), at random places across the demo district (few duplicates). Floor, same run, same
   clients: a public request that costs one indexed query (GET /api/v1/progress/<unknown token>, a 404).
2. Duplicate check: `--closed` closed and `--open` open cases spread over the district in 20 categories, then
   the search a report makes (the category's lock, then the nearest open case within 50 m) for `--checks`
   random reports; floor, same run: a primary-key lookup of a ticket on the same connection.
3. Flood: an edge publishes alerts at `--rate`/s for `--seconds`, quiet and then while one address sends
   `--flood-rate` reports/s; alert latency is received_at - emitted_at of each alert row.

  python bench/intake.py [--seconds 15] [--clients 8] [--closed 1000000] [--open 50000] [--checks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import io
import json
import multiprocessing
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from login_flood import alerts_while, start_gateway  # noqa: E402
from tests.support import Mosquitto, free_port  # noqa: E402
from wangge.gateway.cases import registry  # noqa: E402
from wangge.gateway.cases.categories import BUILTIN  # noqa: E402
from wangge.gateway.cases.duplicates import lock_category, nearest_open_case  # noqa: E402
from wangge.gateway.cases.rules import default_rules  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402
from wangge.gateway.storage.migrations import migrate  # noqa: E402
from wangge.gateway.storage.pool import create_pool  # noqa: E402

WEST, SOUTH, EAST, NORTH = 113.9, 22.5, 113.98, 22.56  # the demo district (wangge/demo/regions.geojson)
WIDE = {"limit": 100_000, "seconds": 1}  # a flood limit no phase of reports meets
WIDE_LIMITS = {"intake": {"per_address": WIDE, "per_browser": WIDE}}
CHUNK = 100_000  # cases inserted by one statement
SERVICES = ("fire-lane", "garbage", "dumping", "street-light", "manhole", "road", "parking", "flooding")


def phone_photo() -> str:
    """A 1600 x 1200 JPEG at quality 85 with a camera's noise (what the page sends after scaling)."""
    rng = np.random.default_rng(7)
    base = np.linspace(40, 200, 1600, dtype=np.float32)[None, :, None].repeat(1200, 0).repeat(3, 2)
    noisy = np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(noisy).save(out, "JPEG", quality=85)
    return base64.b64encode(out.getvalue()).decode()


def post_reports(port: int, source: str, photo: str, seconds: float, seed: int, out: Any) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    latencies, statuses = [], Counter[int]()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        body = json.dumps(
            {
                "service": rng.choice(SERVICES),
                "description": "bench report",
                "lat": rng.uniform(SOUTH + 0.001, NORTH - 0.001),
                "lon": rng.uniform(WEST + 0.001, EAST - 0.001),
                "photos": [{"content_type": "image/jpeg", "data_base64": photo}],
            }
        )
        started = time.perf_counter()
        conn.request("POST", "/api/v1/public/reports", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[resp.status] += 1
    out.put((latencies, dict(statuses)))


def get_floor(port: int, source: str, seconds: float, seed: int, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    latencies, statuses = [], Counter[int]()
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
        started = time.perf_counter()
        conn.request("GET", f"/api/v1/progress/bench-{seed}-{n}")
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[resp.status] += 1
    out.put((latencies, dict(statuses)))


def run_clients(target: Any, port: int, clients: int, seconds: float, *extra: Any) -> tuple[list[float], Counter[int]]:
    queue: Any = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=target, args=(port, f"127.0.0.{10 + i}", *extra, seconds, i, queue))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    for _ in procs:
        got, status = queue.get(timeout=seconds + 120)
        latencies += got
        statuses.update(status)
    for p in procs:
        p.join(30)
    return latencies, statuses


def flooder(port: int, rate: float, stop: Any, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.250", 0))
    body = json.dumps({"service": "garbage", "description": "flood", "lat": 22.51, "lon": 113.91})
    statuses: Counter[int] = Counter()
    next_at = time.perf_counter()
    while not stop.is_set():
        next_at += 1.0 / rate
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            conn.request("POST", "/api/v1/public/reports", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            statuses[resp.status] += 1
        except (OSError, http.client.HTTPException):
            statuses[0] += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.250", 0))
    out.put(dict(statuses))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


async def duplicate_check(url: str, closed: int, open_: int, checks: int) -> dict[str, float]:
    pool = await create_pool(url)  # the gateway's own pool: its JSON codecs and settings
    conn = await pool.acquire()
    try:
        await migrate(conn)
        categories = [c.code for c in BUILTIN if "." in c.code][:20]
        started = time.perf_counter()
        for first in range(1, closed + open_ + 1, CHUNK):  # in chunks: each within the pool's command timeout
            await conn.execute(
                "INSERT INTO tickets (correlation_key, category, severity, title, source, channel, region_path, state,"
                " opened_at, updated_at, closed_at, lat, lon, reporters, last_reported_at)"
                " SELECT 'bench/' || i, ($1::text[])[1 + i % cardinality($1::text[])], 'minor', 'bench', 'report',"
                " 'resident', '/990101/', CASE WHEN i <= $3::int THEN 'closed' ELSE 'registered' END,"
                " now() - (i % 365) * interval '1 day', now(),"
                " CASE WHEN i <= $3::int THEN now() - (i % 365) * interval '1 day' + interval '2 days' END,"
                " $4::float8 + random() * ($5::float8 - $4::float8), $6::float8 + random() * ($7::float8 - $6::float8),"
                " 1, now() - (i % 3) * interval '1 day'"
                " FROM generate_series($8::int, $2::int) i",
                categories,
                min(first + CHUNK - 1, closed + open_),
                closed,
                SOUTH,
                NORTH,
                WEST,
                EAST,
                first,
            )
        await conn.execute("ANALYZE tickets")
        print(f"loaded {closed:,} closed and {open_:,} open cases in {time.perf_counter() - started:.0f} s", flush=True)
        rules, now = default_rules(), datetime.now(UTC)
        rng = random.Random(3)
        dup_ms, floor_ms, found = [], [], 0
        for _ in range(checks):
            category = rng.choice(categories)
            lat, lon = rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)
            ticket = rng.randint(1, closed + open_)
            t0 = time.perf_counter()
            await conn.fetchrow("SELECT id, state FROM tickets WHERE id = $1", ticket)
            t1 = time.perf_counter()
            async with conn.transaction():
                await lock_category(conn, category)
                hit = await nearest_open_case(conn, rules, category, lat, lon, now)
            t2 = time.perf_counter()
            floor_ms.append((t1 - t0) * 1000)
            dup_ms.append((t2 - t1) * 1000)
            found += hit is not None
        return {
            "dup_p50_ms": pct(dup_ms, 50),
            "dup_p95_ms": pct(dup_ms, 95),
            "floor_p50_ms": pct(floor_ms, 50),
            "floor_p95_ms": pct(floor_ms, 95),
            "found": found,
        }
    finally:
        await pool.release(conn)
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--closed", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=50_000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50, help="alerts per second during the flood phases")
    parser.add_argument("--flood-rate", type=float, default=200, help="reports per second from the flooding address")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    photo = phone_photo()
    print(f"photo: {len(base64.b64decode(photo)) / 1024:.0f} KiB JPEG")
    with tempfile.TemporaryDirectory(prefix="wangge-intake-") as tmp:
        work = Path(tmp)
        postgres = EmbeddedPostgres(work / "pg")
        broker = Mosquitto(work / "mosquitto")
        broker.start()
        gateway = None
        try:
            port = free_port()
            gateway = start_gateway(work, postgres.url, broker.url, port, "floor")
            asyncio.run(_seed_regions(postgres.url))

            floor_lat, floor_status = run_clients(get_floor, port, args.clients, args.seconds)
            floor_rps = len(floor_lat) / args.seconds
            print(f"floor: {floor_rps:.0f} req/s, p99 {pct(floor_lat, 99):.1f} ms {dict(floor_status)}", flush=True)

            # Throughput needs no flood limit in the way: the same gateway restarted with a wide one.
            gateway.terminate()
            gateway = start_gateway(
                work, postgres.url, broker.url, port, "reports", {"intake": {"per_address": WIDE, "per_browser": WIDE}}
            )
            rep_lat, rep_status = run_clients(post_reports, port, args.clients, args.seconds, photo)
            accepted = rep_status[201] + rep_status[200]
            reports_rps = accepted / args.seconds
            print(
                f"reports: {reports_rps:.1f}/s accepted with a photo, p50 {pct(rep_lat, 50):.0f} ms p99"
                f" {pct(rep_lat, 99):.0f} ms {dict(rep_status)}",
                flush=True,
            )

            # Flood: restarted with the default limits; alerts quiet, then under a one-address flood.
            gateway.terminate()
            gateway = start_gateway(work, postgres.url, broker.url, port, "flood")
            phases: dict[str, tuple[float, float]] = {}
            flood_status: Counter[int] = Counter()
            for phase in ("quiet", "flood"):
                flood = (flooder, (port, args.flood_rate)) if phase == "flood" else None
                p50, p99, _, got = alerts_while(work, broker.url, postgres.url, phase, args.rate, args.seconds, flood)
                flood_status.update(got)
                phases[phase] = (p50, p99)
                print(f"{phase}: alerts p50 {p50:.1f} ms p99 {p99:.1f} ms", flush=True)
            print(f"flood from one address: {dict(sorted(flood_status.items()))}", flush=True)
        finally:
            if gateway is not None:
                gateway.terminate()
            broker.stop()
            postgres.stop()
        postgres = EmbeddedPostgres(work / "pg-dup")
        try:
            dup = asyncio.run(duplicate_check(postgres.url, args.closed, args.open, args.checks))
        finally:
            postgres.stop()
    print(
        f"duplicate check: p50 {dup['dup_p50_ms']:.2f} ms p95 {dup['dup_p95_ms']:.2f} ms (floor: a key lookup p50"
        f" {dup['floor_p50_ms']:.2f} ms p95 {dup['floor_p95_ms']:.2f} ms); {dup['found']} of {args.checks} found a case"
    )
    quiet, flooded = phases["quiet"], phases["flood"]
    print(
        f"reports_per_s={reports_rps:.1f} report_p99_ms={pct(rep_lat, 99):.0f} floor_req_per_s={floor_rps:.0f}"
        f" floor_p99_ms={pct(floor_lat, 99):.1f} reports_vs_floor={reports_rps / floor_rps:.3f}"
        f" dup_p50_ms={dup['dup_p50_ms']:.2f} dup_p95_ms={dup['dup_p95_ms']:.2f}"
        f" dup_floor_p95_ms={dup['floor_p95_ms']:.2f} closed={args.closed} open={args.open}"
        f" alert_p99_quiet_ms={quiet[1]:.1f} alert_p99_flood_ms={flooded[1]:.1f}"
        f" p99_ratio={flooded[1] / quiet[1]:.2f} flood_201={flood_status[201] + flood_status[200]}"
        f" flood_429={flood_status[429]} clients={args.clients} seconds={args.seconds:.0f}"
    )


async def _seed_regions(url: str) -> None:
    pool = await create_pool(url)
    try:
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT count(*) FROM regions"):
                files = REPO / "wangge" / "demo"
                await registry.import_regions(conn, (files / "regions.geojson").read_text("utf-8"), "regions.geojson")
    finally:
        await pool.close()


if __name__ == "__main__":
    main()
