"""Alert ingest at the gateway: alerts/s from the broker into tickets, latency from outbox write to row, and
the two floors it is measured against in the same run.

Real parts end to end: edge outboxes (SQLite, fsync) and the edge's own uplink code publish to a tuned
Mosquitto; 1 or 2 `wangge gateway` processes share the subscription and write to PostgreSQL (pgserver).
Every alert is counted at the end: the run fails if one is missing or doubled.

Phases per replica count:
  latency     after a 2 s warm-up, one edge writes alerts at a steady rate; per alert, alert row received_at -
              emitted_at (emitted_at is stamped, to the millisecond, when the event is written to the outbox).
              First, so that it measures a settled system rather than the throughput phase's aftermath.
  throughput  every edge's outbox pre-filled, then the uplinks start; time until every outbox is confirmed empty.
Floors, same run, same machine:
  mqtt        the same phases, outboxes and uplinks through the same broker to as many bare confirmer processes
              as the case has replicas (bench/mqtt_confirmer.py), sharing the subscription: publish -> subscriber
              -> confirm publish, no database, no checks; its latency is arrival at the confirmer - emitted_at.
              Measured right before each case. What it gains from a second subscriber (mqtt_floor_scale_r2) is
              the most a second replica can gain on this machine.
  database    the rows ingest writes for the same alerts (alert_events, alerts, ticket_events, outbox_events,
              the tickets' counters), by one set-based statement per batch of the gateway's batch size, each
              batch committed.
The ratio is ingest over the lower floor. Lock wait: what the replicas' batches waited for each other's locks
(wangge_gateway_ingest_lock_wait_seconds), as a share of their batch time; cores busy: the whole machine's CPU
use during the throughput phase (/proc/stat) — at 100% another replica has nothing left to run on; CPU per
alert: the gateway processes' and PostgreSQL's own CPU time in that phase over the alerts it stored.

  python bench/alert_ingest.py [--alerts 20000] [--edges 10] [--rate 200] [--latency-alerts 3000] [--replicas 1,2]
                               [--writers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from tests.support import Mosquitto, Process, free_port, http_json, wait_until, write_yaml  # noqa: E402
from wangge import alert_format  # noqa: E402
from wangge.collector import freeze_start_up  # noqa: E402
from wangge.edge.alerts import alerts_topic  # noqa: E402
from wangge.edge.outbox import Outbox  # noqa: E402
from wangge.edge.uplink import Uplink  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402
from wangge.gateway.storage.migrations import migrate  # noqa: E402
from wangge.mqtt import BrokerAddress, parse_broker_url  # noqa: E402

BATCH_MAX = 500  # the gateway's default mqtt.batch_max
DEVICES = 50  # per edge: 50 correlation keys per edge, every alert after the first 50 attaches


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


def new_database(base_url: str, name: str) -> str:
    db_name = f"{name}_{uuid.uuid4().hex[:6]}"
    asyncio.run(scalar(base_url, f'CREATE DATABASE "{db_name}"'))
    return base_url.replace("/postgres?", f"/{db_name}?")


def count(url: str) -> int:
    return int(asyncio.run(scalar(url, "SELECT count(*) FROM alert_events")))


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds these processes have used so far (/proc/<pid>/stat); gone ones count 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine: the bench's server is the only one."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def drain(work: Path, tag: str, address: BrokerAddress, args: argparse.Namespace) -> tuple[int, float, float]:
    """Pre-fill every edge's outbox, start the uplinks, and time until every outbox is confirmed empty; returns
    the alerts, the seconds, and how busy the machine's cores were meanwhile (1.0: every core all the time)."""
    per_edge = args.alerts // args.edges
    edges = []
    for e in range(args.edges):
        edge_id = f"bench-edge-{e}"
        outbox = Outbox(work / f"outbox-{tag}-{e}.sqlite3")
        outbox._db.execute("PRAGMA synchronous=NORMAL")  # pre-fill speed only; the send path is unchanged
        now = time.time()
        for d in range(per_edge):
            write(outbox, make_alert(edge_id, d % DEVICES, now))
        edges.append((outbox, Uplink(edge_id, outbox, address, f"{edge_id}-{tag}", max_inflight=200)))
    busy_before, total_before = cpu_ticks()
    started = time.perf_counter()
    for _, uplink in edges:
        uplink.start()
    wait_until(lambda: all(o.depth == 0 for o, _ in edges), 300, "outboxes confirmed empty", interval=0.05)
    elapsed = time.perf_counter() - started
    busy_after, total_after = cpu_ticks()
    for _, uplink in edges:
        uplink.stop()
    return per_edge * args.edges, elapsed, (busy_after - busy_before) / max(1, total_after - total_before)


def paced(work: Path, tag: str, address: BrokerAddress, args: argparse.Namespace) -> int:
    """A warm-up edge for 2 s, then the paced edge, both at args.rate; returns how many alerts were sent."""
    sent = 0
    for edge_id, n in (("bench-warmup", int(2 * args.rate)), ("bench-paced", args.latency_alerts)):
        outbox = Outbox(work / f"outbox-{tag}-{edge_id}.sqlite3")
        uplink = Uplink(edge_id, outbox, address, f"{edge_id}-{tag}", max_inflight=200)
        uplink.start()
        wait_until(lambda u=uplink: u.connected, 10, "paced uplink")  # type: ignore[misc]
        interval = 1.0 / args.rate
        next_at = time.perf_counter()
        for i in range(n):
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            write(outbox, make_alert(edge_id, i % DEVICES, time.time()))
            uplink.wake()
        wait_until(lambda o=outbox: o.depth == 0, 120, "paced alerts confirmed", interval=0.05)  # type: ignore[misc]
        uplink.stop()
        sent += n
    return sent


def mqtt_floor(work: Path, args: argparse.Namespace, confirmers: int) -> dict[str, float]:
    """The bare round trip with `confirmers` subscribers sharing the subscription, as that many replicas do."""
    broker = Mosquitto(work / f"mosquitto-floor-{confirmers}")
    broker.start()
    processes = [
        subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "mqtt_confirmer.py"), broker.url, f"bench-confirmer-{i}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(confirmers)
    ]
    try:
        for confirmer in processes:
            assert confirmer.stdout is not None
            if confirmer.stdout.readline().strip() != "subscribed":
                raise SystemExit("an MQTT floor confirmer did not subscribe")
        address = parse_broker_url(broker.url)
        tag = f"floor{confirmers}"
        paced(work, tag, address, args)
        total, elapsed, busy = drain(work, tag, address, args)
    finally:
        for confirmer in processes:
            confirmer.terminate()
        outputs = [confirmer.communicate(timeout=20)[0] for confirmer in processes]
        broker.stop()
    latency = [line.split()[1:] for out in outputs for line in out.splitlines() if line.startswith("latency ")]
    if not latency:
        raise SystemExit("the MQTT floor's confirmers reported no latency")
    # The paced edge's messages all go to one confirmer or are split; the worse percentiles are the floor's.
    p50 = max(float(v[0]) for v in latency)
    p99 = max(float(v[1]) for v in latency)
    return {"per_s": total / elapsed, "p50_ms": p50, "p99_ms": p99, "busy": busy}


# One statement per batch writing what ingest writes for these alerts: their events and rows, one history entry
# and one outbox event each, and each ticket's counters once.
FLOOR_SQL = """
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[]) AS u(alert_id, ticket, payload)
), events AS (
    INSERT INTO alert_events (alert_id, seq, event, at, emitted_at, payload)
    SELECT alert_id, 0, 'start', $4, $4, payload::jsonb FROM u
), made AS (
    INSERT INTO alerts (alert_id, ticket_id, edge_id, device_id, rule_id, category, severity, title, started_at,
                        last_seq, emitted_at, payload)
    SELECT alert_id, ticket, 'floor-edge', 'dev', 'rule', 'emergencies.water_logging', 'major', 'title', $4, 0, $4,
           payload::jsonb FROM u
), history AS (
    INSERT INTO ticket_events (ticket_id, actor, kind, data)
    SELECT ticket, 'edge:floor-edge', 'alert.start', jsonb_build_object('alert_id', alert_id, 'seq', 0) FROM u
), outbox AS (
    INSERT INTO outbox_events (event_type, ticket_id, payload)
    SELECT 'alert.received', ticket, jsonb_build_object('outcome', 'attached') FROM u
)
UPDATE tickets t SET alert_count = t.alert_count + c.n, active_alerts = t.active_alerts + c.n,
       last_alert_at = $4, updated_at = now()
FROM (SELECT ticket, count(*) AS n FROM u GROUP BY ticket) c WHERE t.id = c.ticket
"""


async def _database_floor(url: str, alerts: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        tickets = [
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO tickets (correlation_key, category, severity, title)"
                " SELECT 'floor/' || n, 'emergencies.water_logging', 'major', 'title' FROM generate_series(1, $1) n"
                " RETURNING id",
                DEVICES * 10,
            )
        ]
        now = datetime.now(UTC)
        made = [make_alert("floor-edge", i % DEVICES, time.time()) for i in range(alerts)]
        payloads = [alert_format.encode(m).decode() for m in made]
        ids = [uuid.UUID(m["alert_id"]) for m in made]
        started = time.perf_counter()
        for i in range(0, alerts, BATCH_MAX):
            part = slice(i, i + BATCH_MAX)
            async with conn.transaction():
                await conn.execute(
                    FLOOR_SQL,
                    ids[part],
                    [tickets[n % len(tickets)] for n in range(i, min(i + BATCH_MAX, alerts))],
                    payloads[part],
                    now,
                )
        return alerts / (time.perf_counter() - started)
    finally:
        await conn.close()


def database_floor(base_url: str, args: argparse.Namespace) -> float:
    return asyncio.run(_database_floor(new_database(base_url, "floor"), args.alerts))


def metric_sum(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M))


def run_case(base_url: str, work: Path, replicas: int, args: argparse.Namespace) -> dict[str, float]:
    url = new_database(base_url, f"bench_{replicas}")
    broker = Mosquitto(work / f"mosquitto-{replicas}")
    broker.start()
    gateways = []
    https = []
    writers = {} if args.writers is None else {"writers": args.writers}
    try:
        for i in range(replicas):
            http = f"127.0.0.1:{free_port()}"
            config = write_yaml(
                work / f"gw-{replicas}-{i}.yaml",
                {
                    "database_url": url,
                    "http": http,
                    "data_dir": str(work / f"gw{i}"),
                    "mqtt": {"url": broker.url, "client_id": f"bench-gw-{i}", "shared_group": "gateway", **writers},
                },
            )
            gw = Process(
                ["--log-level", "warning", "gateway", "--config", str(config)], work / f"gw-{replicas}-{i}.log"
            )
            gateways.append(gw.start())
            https.append(http)
            wait_until(lambda h=http: _ready(h), 30, f"gateway {i}")  # type: ignore[misc]

        address = parse_broker_url(broker.url)
        sent = paced(work, str(replicas), address, args)
        before = _ingest_totals(https)
        gateway_pids = [gw.proc.pid for gw in gateways if gw.proc is not None]
        database_pids = postgres_pids()
        cpu_before = process_cpu(gateway_pids), process_cpu(database_pids)
        total, elapsed, busy = drain(work, str(replicas), address, args)
        gateway_cpu = process_cpu(gateway_pids) - cpu_before[0]
        database_cpu = process_cpu(database_pids) - cpu_before[1]
        batches, batch_s, waited_s = (b - a for a, b in zip(before, _ingest_totals(https), strict=True))
        grand_total = total + sent
        p50, p99 = asyncio.run(_percentiles(url))
        time.sleep(2)  # the gateways' backends report their table statistics within a second of going idle
        hot_share = float(asyncio.run(scalar(url, HOT_SHARE)))
        alerts = int(asyncio.run(scalar(url, "SELECT count(*) FROM alerts")))
        events = count(url)
        if alerts != grand_total or events != grand_total:
            raise SystemExit(f"LOST OR DOUBLED: {alerts} alerts, {events} events for {grand_total} sent")
        return {
            "alerts_per_s": total / elapsed,
            "p50_ms": p50,
            "p99_ms": p99,
            "alerts": grand_total,
            "batch_mean": total / batches if batches else 0.0,
            "lock_wait_share": waited_s / batch_s if batch_s else 0.0,
            "busy": busy,
            "hot_share": hot_share,
            "gateway_cpu_us": gateway_cpu / total * 1e6,
            "database_cpu_us": database_cpu / total * 1e6,
        }
    finally:
        for gw in gateways:
            gw.terminate()
        broker.stop()


# Of the tickets' row updates (ingest's counters, nearly all of them), the share that stayed on their page and
# touched no index (migration 0020).
HOT_SHARE = "SELECT n_tup_hot_upd::float / greatest(n_tup_upd, 1) FROM pg_stat_user_tables WHERE relname = 'tickets'"


def _ready(http: str) -> bool:
    try:
        return http_json(f"http://{http}/readyz")[0] == 200
    except OSError:
        return False


def _ingest_totals(https: list[str]) -> tuple[float, float, float]:
    """Batches stored, seconds spent storing them, seconds of that spent taking locks: all replicas together."""
    scraped = [_metrics(h) for h in https]
    return (
        sum(metric_sum(m, "wangge_gateway_ingest_batch_seconds_count") for m in scraped),
        sum(metric_sum(m, "wangge_gateway_ingest_batch_seconds_sum") for m in scraped),
        sum(metric_sum(m, "wangge_gateway_ingest_lock_wait_seconds_sum") for m in scraped),
    )


def _metrics(http: str) -> str:
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as response:
        return str(response.read().decode())


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
    parser.add_argument("--writers", type=int, default=None, help="mqtt.writers per replica (default: the gateway's)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    # The edges' uplinks run in this process, and an edge freezes its start-up as this does: unfrozen, this
    # process's own full collections (129,000 objects, 60-160 ms) held up the paced edge's publishing, and the
    # stall of each one came out as ingest latency (the p99 of 3,000 alerts is their 30 slowest).
    freeze_start_up()
    with tempfile.TemporaryDirectory(prefix="wangge-bench-") as tmp:
        work = Path(tmp)
        postgres = EmbeddedPostgres(work / "pg")
        results = {}
        floors = {}
        try:
            database = database_floor(postgres.url, args)
            print(f"floor: database {database:.0f} alerts/s", flush=True)
            for replicas in (int(r) for r in args.replicas.split(",")):
                # Each case right after its own MQTT floor: this machine's speed drifts within minutes.
                floors[replicas] = mqtt_run = mqtt_floor(work, args, replicas)
                print(
                    f"floor: mqtt round trip with {replicas} subscriber(s) {mqtt_run['per_s']:.0f} alerts/s "
                    f"(latency at {args.rate:.0f}/s p50 {mqtt_run['p50_ms']:.1f} ms p99 {mqtt_run['p99_ms']:.1f} "
                    f"ms, cores {100 * mqtt_run['busy']:.0f}% busy)",
                    flush=True,
                )
                floor = min(mqtt_run["per_s"], database)
                r = run_case(postgres.url, work, replicas, args)
                results[replicas] = r
                print(
                    f"replicas={replicas}: {r['alerts_per_s']:.0f} alerts/s (throughput phase, batches of "
                    f"{r['batch_mean']:.0f} on average, {100 * r['lock_wait_share']:.1f}% of batch time taking locks, "
                    f"cores {100 * r['busy']:.0f}% busy; CPU per alert: gateway {r['gateway_cpu_us']:.0f} µs, "
                    f"PostgreSQL {r['database_cpu_us']:.0f} µs; {100 * r['hot_share']:.0f}% of ticket updates "
                    f"heap-only), latency at {args.rate:.0f}/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms; "
                    f"{r['alerts_per_s'] / floor:.2f} of the lower floor; {r['alerts']:.0f} alerts, none lost or "
                    "doubled",
                    flush=True,
                )
        finally:
            postgres.stop()
    print(" ".join(summary(results, floors, database)))


def summary(results: dict[int, dict[str, float]], floors: dict[int, dict[str, float]], database: float) -> list[str]:
    """The closing key=value line: the first replica count's figures bare, the others' with an _rN suffix; a
    second count's scale beside what the bare round trip itself gained from as many subscribers."""
    first = min(results)
    one, one_floor = results[first], floors[first]
    parts = []
    for replicas, r in results.items():
        suffix = "" if replicas == first else f"_r{replicas}"
        parts += [
            f"alerts_per_s{suffix}={r['alerts_per_s']:.0f}",
            f"p50_ms{suffix}={r['p50_ms']:.1f}",
            f"p99_ms{suffix}={r['p99_ms']:.1f}",
            f"cpu_busy{suffix}={r['busy']:.2f}",
            f"gateway_cpu_us{suffix}={r['gateway_cpu_us']:.0f}",
            f"database_cpu_us{suffix}={r['database_cpu_us']:.0f}",
            f"tickets_hot_share{suffix}={r['hot_share']:.2f}",
        ]
        if suffix:
            parts += [
                f"scale{suffix}={r['alerts_per_s'] / one['alerts_per_s']:.2f}",
                f"mqtt_floor_scale{suffix}={floors[replicas]['per_s'] / one_floor['per_s']:.2f}",
                f"lock_wait_share{suffix}={r['lock_wait_share']:.3f}",
                f"mqtt_floor_per_s{suffix}={floors[replicas]['per_s']:.0f}",
                f"floor_ratio{suffix}={r['alerts_per_s'] / min(floors[replicas]['per_s'], database):.3f}",
            ]
    parts += [
        f"mqtt_floor_per_s={one_floor['per_s']:.0f}",
        f"mqtt_p50_ms={one_floor['p50_ms']:.1f}",
        f"mqtt_p99_ms={one_floor['p99_ms']:.1f}",
        f"db_floor_per_s={database:.0f}",
        f"floor_ratio={one['alerts_per_s'] / min(one_floor['per_s'], database):.3f}",
    ]
    return parts


if __name__ == "__main__":
    main()
