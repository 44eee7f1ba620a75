"""Alert latency while the sign-in endpoint is flooded with wrong passwords, against the same gateway quiet.

Real parts: a `wangge gateway` process on PostgreSQL (pgserver) and Mosquitto; an edge's own outbox and uplink
publish alerts at a steady rate; each alert's latency is its row's received_at - emitted_at (stamped as it is
written to the outbox). Two phases in one run: quiet (the floor), then flood: `--concurrency` clients, each
from its own loopback source address (127.0.0.N, so the per-address throttle is N times wider, as for a
distributed guesser), send wrong-password sign-ins back to back (or `--pace` seconds apart) for the whole phase.
The flood runs in its own process on the same machine, so on a small machine it also takes CPU from the gateway.

  python bench/login_flood.py [--seconds 20] [--rate 100] [--concurrency 50] [--addresses 50] [--pace 0]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import asyncpg  # noqa: E402

from alert_ingest import make_alert, write  # noqa: E402
from tests.support import Mosquitto, Process, free_port, http_json, wait_until, write_yaml  # noqa: E402
from wangge.edge.outbox import Outbox  # noqa: E402
from wangge.edge.uplink import Uplink  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402
from wangge.mqtt import parse_broker_url  # noqa: E402


def flooder(host: str, port: int, sources: list[str], pace: float, stop: Any, out: Any) -> None:
    """A separate process (its threads would otherwise take the GIL from the edge's uplink in this one)."""
    statuses: Counter[int] = Counter()
    inner = threading.Event()
    threads = [threading.Thread(target=flood, args=(host, port, s, pace, inner, statuses)) for s in sources]
    for t in threads:
        t.start()
    stop.wait()
    inner.set()
    for t in threads:
        t.join(35)
    out.put(dict(statuses))


def flood(host: str, port: int, source: str, pace: float, stop: threading.Event, statuses: Counter[int]) -> None:
    body = json.dumps({"username": f"guess-{source}", "password": "wrong-password"})
    conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
    while not stop.is_set():
        try:
            conn.request("POST", "/api/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            statuses[resp.status] += 1
            if pace:
                stop.wait(pace)
        except (OSError, http.client.HTTPException):
            statuses[0] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))


def paced(outbox: Outbox, uplink: Uplink, edge_id: str, seconds: float, rate: float) -> int:
    interval, sent = 1.0 / rate, 0
    next_at = time.perf_counter()
    end = next_at + seconds
    while time.perf_counter() < end:
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        write(outbox, make_alert(edge_id, sent % 50, time.time()))
        uplink.wake()
        sent += 1
    return sent


async def percentiles(url: str, edge_id: str) -> tuple[float, float, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms),"
            " count(*) FROM (SELECT extract(epoch FROM received_at - emitted_at) * 1000 AS ms FROM alerts"
            " WHERE edge_id = $1) t",
            edge_id,
        )
        assert row is not None
        return float(row[0]), float(row[1]), int(row[2])
    finally:
        await conn.close()


Flood = tuple[Callable[..., None], tuple[Any, ...]]


def alerts_while(
    work: Path, broker_url: str, db_url: str, phase: str, rate: float, seconds: float, flood: Flood | None = None
) -> tuple[float, float, int, dict[int, int]]:
    """An edge's alerts at `rate` for `seconds`, while `flood` (a process target and its arguments, to which a
    stop event and a result queue are added) runs; (p50 ms, p99 ms, alerts, what the flood counted). Fails on
    an alert lost or doubled."""
    edge_id = f"bench-{phase}"
    outbox = Outbox(work / f"{phase}.sqlite3")
    uplink = Uplink(edge_id, outbox, parse_broker_url(broker_url), edge_id, max_inflight=200)
    uplink.start()
    wait_until(lambda: uplink.connected, 10, "the uplink")
    stop, out = multiprocessing.Event(), multiprocessing.Queue()  # type: ignore[var-annotated]
    proc = None
    if flood is not None:
        proc = multiprocessing.Process(target=flood[0], args=(*flood[1], stop, out))
        proc.start()
        time.sleep(1.0)  # the flood is under way before the first alert
    sent = paced(outbox, uplink, edge_id, seconds, rate)
    counted: dict[int, int] = {}
    if proc is not None:
        stop.set()
        counted = out.get(timeout=60)
        proc.join(30)
    wait_until(lambda: asyncio.run(percentiles(db_url, edge_id))[2] >= sent, 60, "every alert")
    uplink.stop()
    p50, p99, stored = asyncio.run(percentiles(db_url, edge_id))
    if stored != sent:
        raise SystemExit(f"LOST OR DOUBLED in the {phase} phase: {stored} stored of {sent}")
    return p50, p99, sent, counted


def start_gateway(
    work: Path, db: str, broker: str, port: int, name: str, settings: dict[str, Any] | None = None
) -> Process:
    """`wangge gateway` on the bench's database and broker, with more `settings` for gateway.yaml; ready."""
    config = write_yaml(
        work / f"{name}.yaml",
        {
            "database_url": db,
            "http": f"127.0.0.1:{port}",
            "data_dir": str(work / "gw"),
            "mqtt": {"url": broker, "client_id": "bench-gw", "shared_group": "gateway"},
            **(settings or {}),
        },
    )
    gateway = Process(["--log-level", "warning", "gateway", "--config", str(config)], work / f"{name}.log").start()
    wait_until(lambda: ready(port), 60, "the gateway")
    return gateway


def ready(port: int) -> bool:
    try:
        return http_json(f"http://127.0.0.1:{port}/readyz")[0] == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--addresses", type=int, default=50, help="source addresses the clients are spread over")
    parser.add_argument("--pace", type=float, default=0, help="seconds each client waits between attempts (0: none)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="wangge-flood-") as tmp:
        work = Path(tmp)
        postgres = EmbeddedPostgres(work / "pg")
        broker = Mosquitto(work / "mosquitto")
        broker.start()
        gateway = None
        try:
            port = free_port()
            gateway = start_gateway(work, postgres.url, broker.url, port, "gw")
            results = {}
            statuses: Counter[int] = Counter()
            for phase in ("quiet", "flood"):
                sources = [f"127.0.0.{2 + i % args.addresses}" for i in range(args.concurrency)]
                flood = (flooder, ("127.0.0.1", port, sources, args.pace)) if phase == "flood" else None
                p50, p99, sent, got = alerts_while(
                    work, broker.url, postgres.url, phase, args.rate, args.seconds, flood
                )
                statuses.update(got)
                results[phase] = (p50, p99, sent)
                print(
                    f"{phase}: {sent} alerts at {args.rate:.0f}/s, latency p50 {p50:.1f} ms p99 {p99:.1f} ms",
                    flush=True,
                )
        finally:
            if gateway is not None:
                gateway.terminate()
            broker.stop()
            postgres.stop()
    logins = sum(statuses.values())
    print(f"flood: {logins} sign-ins from {args.addresses} addresses: {dict(sorted(statuses.items()))}")
    quiet, flooded = results["quiet"], results["flood"]
    print(
        f"alert_p99_quiet_ms={quiet[1]:.1f} alert_p99_flood_ms={flooded[1]:.1f} p99_ratio={flooded[1] / quiet[1]:.2f}"
        f" alert_p50_quiet_ms={quiet[0]:.1f} alert_p50_flood_ms={flooded[0]:.1f} logins={logins}"
        f" logins_429={statuses[429]} logins_401={statuses[401]} logins_failed={statuses[0]} rate={args.rate:.0f}"
        f" concurrency={args.concurrency} addresses={args.addresses} pace_s={args.pace}"
    )


if __name__ == "__main__":
    main()
