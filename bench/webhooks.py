"""Webhook delivery: deliveries/s to a fast local receiver, and the delay from ticket creation to delivery.

The receiver is a separate process (aiohttp, answers 204). Throughput: N tickets created through the real
ingest path (each makes a ticket.created event), then the worker drains them. Latency: tickets created at a
steady rate while the worker runs; delay = delivered_at - the event's created_at (same transaction as the
ticket). Floor: the same number of bare signed POSTs from one aiohttp session at the same concurrency.

  python bench/webhooks.py [--tickets 5000] [--rate 50] [--paced 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from tests.support import free_port, port_open, wait_until  # noqa: E402
from wangge import alert_format  # noqa: E402
from wangge.gateway.ingest.batch import Incoming, prepare  # noqa: E402
from wangge.gateway.ingest.store import store  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402
from wangge.gateway.storage.migrations import migrate  # noqa: E402
from wangge.gateway.storage.pool import create_pool  # noqa: E402
from wangge.gateway.webhooks import formats  # noqa: E402
from wangge.gateway.webhooks.config import WebhooksConfig  # noqa: E402
from wangge.gateway.webhooks.sealing import SecretBox  # noqa: E402
from wangge.gateway.webhooks.subscriptions import SubscriptionIn, create  # noqa: E402
from wangge.gateway.webhooks.worker import WebhookWorker  # noqa: E402

RECEIVER = """
import sys
from aiohttp import web
async def hook(request):
    await request.read()
    return web.Response(status=204)
app = web.Application()
app.router.add_post("/hook", hook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def alert(i: int) -> bytes:
    now = alert_format.iso(time.time())
    return json.dumps(
        {
            "v": 1,
            "alert_id": str(uuid.uuid4()),
            "seq": 0,
            "event": "start",
            "edge_id": "bench",
            "source": {"kind": "sensor", "device_id": f"d{i}"},
            "rule_id": "r",
            "category": "emergencies.water_logging",
            "severity": "major",
            "title": f"bench {i}",
            "started_at": now,
            "at": now,
            "emitted_at": now,
        }
    ).encode()


async def open_tickets(pool: object, start: int, count: int) -> None:
    batch = [Incoming(1, 1, 1, "wangge/edge/bench/alerts", alert(start + i)) for i in range(count)]
    async with pool.acquire() as conn:  # type: ignore[attr-defined]
        await store(conn, prepare(batch))


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    wait_until(lambda: port_open(port), 20, "the receiver")
    url = f"http://127.0.0.1:{port}/hook"
    config = WebhooksConfig(allow_networks=["127.0.0.1/32"], batch=500, concurrency=32)  # default poll: 0.5 s
    with tempfile.TemporaryDirectory(prefix="wangge-webhooks-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        box = SecretBox.from_environment(Path(tmp) / "webhook-keys")
        try:
            pool = await create_pool(postgres.url, max_size=8)
            async with pool.acquire() as conn:
                await migrate(conn)
                _, secret = await create(
                    conn, box, SubscriptionIn(name="bench", url=url, event_types=["ticket.created"]), "/", "bench"
                )
            for start in range(0, args.tickets, 500):
                await open_tickets(pool, start, min(500, args.tickets - start))
            worker = WebhookWorker(pool, config, box)
            t0 = time.perf_counter()
            while await pool.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'"
            ) < args.tickets or await pool.fetchval("SELECT count(*) FROM outbox_events WHERE NOT fanned_out"):
                await worker.step()
            elapsed = time.perf_counter() - t0
            throughput = args.tickets / elapsed
            print(f"throughput: {args.tickets} deliveries in {elapsed:.2f} s = {throughput:.0f}/s", flush=True)

            runner = asyncio.create_task(worker.run())
            interval = 1 / args.rate
            next_at = time.perf_counter()
            for i in range(args.paced):
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                await open_tickets(pool, 10_000_000 + i, 1)
            total = args.tickets + args.paced
            while await pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'") < total:
                await asyncio.sleep(0.1)
            runner.cancel()
            row = await pool.fetchrow(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)"
                " FROM (SELECT extract(epoch FROM d.delivered_at - e.created_at) * 1000 AS ms FROM webhook_deliveries d"
                " JOIN outbox_events e ON e.id = d.event_id ORDER BY d.id DESC LIMIT $1) t",
                args.paced,
            )
            assert row is not None
            dead = await pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'")
            await worker.close()
            await pool.close()
        finally:
            postgres.stop()
    # Floor: bare signed POSTs, same concurrency, no database.
    event = formats.Event(1, "ticket.created", "2026-01-01T00:00:00+00:00", {"ticket": {"id": 1, "title": "x"}})
    sem = asyncio.Semaphore(config.concurrency)
    async with aiohttp.ClientSession() as session:

        async def post(i: int) -> None:
            request = formats.build("standard", url, secret, f"msg_{i}", [event], time.time())
            async with sem, session.post(request.url, data=request.body, headers=request.headers) as resp:
                assert resp.status == 204

        t0 = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(args.tickets)))
        floor = args.tickets / (time.perf_counter() - t0)
    receiver.terminate()
    return {"throughput": throughput, "p50": float(row[0]), "p99": float(row[1]), "floor": floor, "dead": dead}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--paced", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}; python {platform.python_version()}")
    r = asyncio.run(main_async(args))
    if r["dead"]:
        raise SystemExit(f"{r['dead']} deliveries not delivered")
    print(
        f"paced at {args.rate:.0f} tickets/s: creation → delivery p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms; "
        f"bare POST floor {r['floor']:.0f}/s"
    )
    print(
        f"deliveries_per_s={r['throughput']:.0f} p99_delay_ms={r['p99']:.1f} p50_delay_ms={r['p50']:.1f} "
        f"floor_per_s={r['floor']:.0f} floor_ratio={r['throughput'] / r['floor']:.3f}"
    )


if __name__ == "__main__":
    main()
