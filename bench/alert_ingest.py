"""Alert ingest at the gateway: alerts/s from the broker into tickets, and latency from outbox write to row.

Real parts end to end: edge outboxes (SQLite, fsync) and the edge's own uplink code publish to a tuned
Mosquitto; 1 or 2 `wangge gateway` processes share the subscription and write to PostgreSQL (pgserver).
Every alert is counted at the end: the run fails if one is missing or doubled.

Phases per replica count:
  throughput  every edge's outbox pre-filled, then the uplinks start; time until the last row lands.
  latency     one edge writes alerts at a steady rate; per alert, alert row received_at - emitted_at
              (emitted_at is stamped when the event is written to the outbox).
Floor: COPY of the same number of rows into a plain table on the same server (asyncpg copy_records_to_table).

  python bench/alert_ingest.py [--alerts 20000] [--edges 10] [--rate 200] [--latency-alerts 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from tests.support import Mosquitto, Process, free_port, http_json, wait_until, write_yaml  # noqa: E402
from wangge import alert_format  # noqa: E402
from wangge.edge.alerts import alerts_topic  # noqa: E402
from wangge.edge.outbox import Outbox  # noqa: E402
from wangge.edge.uplink import Uplink  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402
from wangge.mqtt import parse_broker_url  # noqa: E402


def make_alert(edge_id: str, device: int, now: float) -> dict[str, Any]:
    stamp = alert_format.iso(now)
    return {
        "v": 1,
        "alert_id": str(uuid.uuid4()),
        "seq": 0,
        "event": "start",
        "edge_id": edge_id,
        "source": {"kind": "sensor", "device_id": f"dev-{device}", "metric": "water_level"},
        "rule_id": "underpass-flooding",
        "category": "emergencies.water_logging",
        "severity": "major",
        "title": "Underpass water 23 cm",
        "started_at": stamp,
        "at": stamp,
        "emitted_at": stamp,
        "value": 23.0,
    }


def write(outbox: Outbox, message: dict[str, Any]) -> None:
    key = f"{message['alert_id']}:0"
    outbox.append(key, alerts_topic(message["edge_id"]), alert_format.encode(message), time.time())


async def scalar(url: str, query: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def copy_floor(url: str, rows: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TEMP TABLE floor (alert_id uuid, seq int, event text, at timestamptz, payload text)")
        now = await conn.fetchval("SELECT now()")
        records = [(uuid.uuid4(), 0, "start", now, '{"v":1}') for _ in range(rows)]
        started = time.perf_counter()
        for i in range(0, rows, 1000):
            await conn.copy_records_to_table("floor", records=records[i : i + 1000])
        return rows / (time.perf_counter() - started)
    finally:
        await conn.close()


def count(url: str) -> int:
    return int(asyncio.run(scalar(url, "SELECT count(*) FROM alert_events")))


def run_case(base_url: str, work: Path, replicas: int, args: argparse.Namespace) -> dict[str, float]:
    db_name = f"bench_{replicas}_{uuid.uuid4().hex[:6]}"
    asyncio.run(scalar(base_url, f'CREATE DATABASE "{db_name}"'))
    url = base_url.replace("/postgres?", f"/{db_name}?")
    broker = Mosquitto(work / f"mosquitto-{replicas}")
    broker.start()
    gateways = []
    try:
        for i in range(replicas):
            http = f"127.0.0.1:{free_port()}"
            config = write_yaml(
                work / f"gw-{replicas}-{i}.yaml",
                {
                    "database_url": url,
                    "http": http,
                    "data_dir": str(work / f"gw{i}"),
                    "mqtt": {"url": broker.url, "client_id": f"bench-gw-{i}", "shared_group": "gateway"},
                },
            )
            gw = Process(
                ["--log-level", "warning", "gateway", "--config", str(config)], work / f"gw-{replicas}-{i}.log"
            )
            gateways.append(gw.start())
            wait_until(lambda h=http: _ready(h), 30, f"gateway {i}")  # type: ignore[misc]

        address = parse_broker_url(broker.url)
        # Throughput: pre-filled outboxes, then the uplinks drain them.
        per_edge = args.alerts // args.edges
        total = per_edge * args.edges
        edges = []
        for e in range(args.edges):
            edge_id = f"bench-edge-{e}"
            outbox = Outbox(work / f"outbox-{replicas}-{e}.sqlite3")
            outbox._db.execute("PRAGMA synchronous=NORMAL")  # pre-fill speed only; the send path is unchanged
            now = time.time()
            for d in range(per_edge):
                write(outbox, make_alert(edge_id, d % 50, now))
            edges.append((outbox, Uplink(edge_id, outbox, address, f"{edge_id}-{replicas}", max_inflight=200)))
        started = time.perf_counter()
        for _, uplink in edges:
            uplink.start()
        wait_until(lambda: count(url) >= total, 300, f"{total} alerts", interval=0.2)
        elapsed = time.perf_counter() - started
        wait_until(lambda: all(o.depth == 0 for o, _ in edges), 60, "outboxes confirmed empty")
        for _, uplink in edges:
            uplink.stop()

        # Latency: one edge, a steady rate, each event stamped as it is written to the (fsync'd) outbox.
        outbox = Outbox(work / f"outbox-{replicas}-paced.sqlite3")
        uplink = Uplink("bench-paced", outbox, address, f"bench-paced-{replicas}", max_inflight=200)
        uplink.start()
        wait_until(lambda: uplink.connected, 10, "paced uplink")
        interval = 1.0 / args.rate
        next_at = time.perf_counter()
        for i in range(args.latency_alerts):
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            write(outbox, make_alert("bench-paced", i % 50, time.time()))
            uplink.wake()
        grand_total = total + args.latency_alerts
        wait_until(lambda: count(url) >= grand_total, 120, "paced alerts", interval=0.2)
        uplink.stop()
        p50, p99 = asyncio.run(_percentiles(url))
        alerts = int(asyncio.run(scalar(url, "SELECT count(*) FROM alerts")))
        events = count(url)
        if alerts != grand_total or events != grand_total:
            raise SystemExit(f"LOST OR DOUBLED: {alerts} alerts, {events} events for {grand_total} sent")
        floor = asyncio.run(copy_floor(url, total))
        return {
            "alerts_per_s": total / elapsed,
            "p50_ms": p50,
            "p99_ms": p99,
            "copy_rows_per_s": floor,
            "alerts": grand_total,
        }
    finally:
        for gw in gateways:
            gw.terminate()
        broker.stop()


def _ready(http: str) -> bool:
    try:
        return http_json(f"http://{http}/readyz")[0] == 200
    except OSError:
        return False


async def _percentiles(url: str) -> tuple[float, float]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)"
            " FROM (SELECT extract(epoch FROM received_at - emitted_at) * 1000 AS ms FROM alerts"
            " WHERE edge_id = 'bench-paced') t"
        )
        assert row is not None
        return float(row[0]), float(row[1])
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--edges", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="alerts/s in the latency phase")
    parser.add_argument("--latency-alerts", type=int, default=3000)
    parser.add_argument("--replicas", default="1,2")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="wangge-bench-") as tmp:
        work = Path(tmp)
        postgres = EmbeddedPostgres(work / "pg")
        results = {}
        try:
            for replicas in (int(r) for r in args.replicas.split(",")):
                r = run_case(postgres.url, work, replicas, args)
                results[replicas] = r
                print(
                    f"replicas={replicas}: {r['alerts_per_s']:.0f} alerts/s (throughput phase), latency at "
                    f"{args.rate:.0f}/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms; COPY floor "
                    f"{r['copy_rows_per_s']:.0f} rows/s, ratio {r['alerts_per_s'] / r['copy_rows_per_s']:.3f}; "
                    f"{r['alerts']:.0f} alerts, none lost or doubled",
                    flush=True,
                )
        finally:
            postgres.stop()
    parts = []
    for replicas, r in results.items():
        suffix = "" if replicas == min(results) else f"_r{replicas}"
        parts += [
            f"alerts_per_s{suffix}={r['alerts_per_s']:.0f}",
            f"p50_ms{suffix}={r['p50_ms']:.1f}",
            f"p99_ms{suffix}={r['p99_ms']:.1f}",
            f"replicas{suffix}={replicas}",
        ]
    first = results[min(results)]
    parts.append(f"floor_ratio={first['alerts_per_s'] / first['copy_rows_per_s']:.3f}")
    print(" ".join(parts))


if __name__ == "__main__":
    main()
