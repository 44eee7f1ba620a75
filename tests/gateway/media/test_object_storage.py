"""Media in the object store, through the real parts: SeaweedFS (S3), PostgreSQL, the gateway's API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.gateway import world as w
from tests.gateway.cases.test_cases_api import FRIDAY_1730, PNG, Clock, act, open_ticket
from tests.images import jpeg
from tests.support import new_object_store
from wangge.gateway.cases.config import CasesConfig
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.http.app import create_app
from wangge.gateway.media.embedded import EmbeddedObjectStore
from wangge.gateway.media.objects import Media, offload, sweep_garbage
from wangge.gateway.media.store import MediaMissing, ObjectStore
from wangge.gateway.storage.config import RetentionConfig
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool
from wangge.gateway.storage.retention import run_lifecycle

Scenario = Callable[[TestClient[Any, Any], w.World, Any, Clock, CaseRules, ObjectStore], Awaitable[None]]


def run(database_url: str, scenario: Scenario, store: ObjectStore | None = None) -> None:
    rules = CaseRules.from_config(CasesConfig(duplicates={"enabled": False}))

    async def main() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            world = await w.seed(conn)
        clock = Clock(FRIDAY_1730)
        objects = store or new_object_store()
        app = create_app(pool, {"broker": lambda: True}, rules, clock, media=Media(objects, pool))
        try:
            async with TestClient(TestServer(app)) as client:
                await scenario(client, world, pool, clock, rules, objects)
        finally:
            await pool.close()

    asyncio.run(main())


async def edge_token(pool: Any) -> str:
    from wangge.gateway.accounts.tokens import issue_token

    async with pool.acquire() as conn:
        return await issue_token(conn, "box", edge_id="demo-estate")


def test_a_snapshot_lives_in_the_store_and_is_served_by_range_with_one_audited_view(database_url: str) -> None:
    async def scenario(
        client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules, store: ObjectStore
    ) -> None:
        alert_id = "5b0c7e4e-7f55-4c35-9a4b-1f0000000001"
        ticket = await open_ticket(pool, rules, clock.now, alert_id=alert_id)
        box = {"Authorization": f"Bearer {await edge_token(pool)}", "Content-Type": "image/jpeg"}
        first, second = jpeg(shade=60), jpeg(shade=200)
        url = f"/api/v1/edges/demo-estate/alerts/{alert_id}/snapshot"
        assert (await client.put(url, data=first, headers=box)).status == 201
        old_key = await pool.fetchval("SELECT object_key FROM attachments WHERE alert_id = $1", alert_id)
        assert (await client.put(url, data=second, headers=box)).status == 200  # a better one replaces it
        row = await pool.fetchrow(
            "SELECT id, object_key, data, sha256, size FROM attachments WHERE alert_id = $1", alert_id
        )
        assert row["data"] is None and row["object_key"].startswith("snapshot/") and row["object_key"] != old_key
        assert await store.get(row["object_key"]) == second
        assert bytes(row["sha256"]) == hashlib.sha256(second).digest() and row["size"] == len(second)

        audited = "SELECT count(*) FROM audit_log WHERE kind = 'attachment.view' AND subject = $1"
        subject = f"attachment:{row['id']}"
        resp = await client.get(f"/api/v1/attachments/{row['id']}", headers=world.auth("c1-operator"))
        assert resp.status == 200 and await resp.read() == second
        assert resp.headers["Cache-Control"] == "private, no-store" and resp.headers["Accept-Ranges"] == "bytes"
        resp = await client.get(
            f"/api/v1/attachments/{row['id']}", headers={**world.auth("c1-operator"), "Range": "bytes=10-19"}
        )
        assert resp.status == 206 and await resp.read() == second[10:20]
        assert resp.headers["Content-Range"] == f"bytes 10-19/{len(second)}"
        assert await pool.fetchval(audited, subject) == 1  # a seek within a view is not a second view
        resp = await client.get(
            f"/api/v1/attachments/{row['id']}", headers={**world.auth("c1-operator"), "Range": f"bytes={len(second)}-"}
        )
        assert resp.status == 416
        resp = await client.get(f"/api/v1/attachments/{row['id']}", headers=world.auth("c2-operator"))
        assert resp.status == 404  # another community's operator
        assert await pool.fetchval(audited, subject) == 1

        # The replaced snapshot's object goes once the sweep runs; the kept one stays.
        async with pool.acquire() as conn:
            assert await sweep_garbage(conn, store) == 1
        try:
            await store.get(old_key)
            raise AssertionError("the replaced snapshot is still in the store")
        except MediaMissing:
            pass
        assert await store.get(row["object_key"]) == second

        # Retention: the row and its object go together; the ticket's history keeps the checksum.
        async with pool.acquire() as conn:
            await conn.execute("UPDATE attachments SET created_at = $1::timestamptz - interval '40 days'", clock.now)
            report = await run_lifecycle(conn, RetentionConfig(), clock.now)
            assert report.removed["snapshots"] == 1
            assert await sweep_garbage(conn, store) == 1
            expired = await conn.fetchval(
                "SELECT data FROM ticket_events WHERE ticket_id = $1 AND kind = 'attachment.expired'", ticket
            )
        assert expired["sha256"] == hashlib.sha256(second).hexdigest() and expired["kind"] == "snapshot"
        assert await store.keys("snapshot/") == []

    run(database_url, scenario)


def test_an_object_store_outage_delays_media_and_loses_none(database_url: str, tmp_path: Path) -> None:
    server = EmbeddedObjectStore(tmp_path / "s3").start()
    store = ObjectStore(server.url, "outage", server.access_key, server.secret_key, timeout_s=2)
    store.ensure_bucket_sync()

    async def scenario(
        client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules, store: ObjectStore
    ) -> None:
        alert_id = "5b0c7e4e-7f55-4c35-9a4b-1f0000000002"
        ticket = await open_ticket(
            pool, rules, clock.now, category="public_facilities.manhole_cover", alert_id=alert_id
        )
        assert await asyncio.to_thread(server.stop) == 0  # stopped by SIGTERM, its volumes closed, not killed
        box = {"Authorization": f"Bearer {await edge_token(pool)}", "Content-Type": "image/jpeg"}
        resp = await client.put(f"/api/v1/edges/demo-estate/alerts/{alert_id}/snapshot", data=jpeg(), headers=box)
        assert resp.status == 503 and int(resp.headers["Retry-After"]) > 0  # the edge keeps it and comes again
        assert await pool.fetchval("SELECT count(*) FROM attachments") == 0
        # A person's photo cannot be sent again: it is taken, and waits in PostgreSQL.
        status, _ = await act(
            client,
            world,
            "c1-operator",
            ticket,
            "comment",
            note="photo",
            photos=[{"content_type": "image/png", "data_base64": PNG}],
        )
        assert status == 200
        staged = await pool.fetchrow("SELECT id, data, object_key FROM attachments WHERE kind = 'photo'")
        assert staged["data"] is not None and staged["object_key"] is None
        resp = await client.get(f"/api/v1/attachments/{staged['id']}", headers=world.auth("c1-operator"))
        assert resp.status == 200 and await resp.read() == bytes(staged["data"])  # viewable meanwhile

        await asyncio.sleep(30)  # the store stays down for 30 s
        await asyncio.to_thread(server.start)
        resp = await client.put(f"/api/v1/edges/demo-estate/alerts/{alert_id}/snapshot", data=jpeg(), headers=box)
        assert resp.status == 201
        async with pool.acquire() as conn:
            report = await offload(conn, store)
        assert report.moved == 1 and report.left == 0
        moved = await pool.fetchrow("SELECT data, object_key, sha256 FROM attachments WHERE id = $1", staged["id"])
        assert moved["data"] is None
        assert hashlib.sha256(await store.get(moved["object_key"])).digest() == bytes(moved["sha256"])

    try:
        run(database_url, scenario, store)
    finally:
        server.stop()


def test_migration_moves_every_bytea_attachment_out_resumably_and_checks_each_sha256(database_url: str) -> None:
    store = new_object_store()
    rng = random.Random(16)
    blobs = [os.urandom(rng.randint(1, 300_000)) for _ in range(23)]

    async def main() -> None:
        pool = await create_pool(database_url)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
                await w.seed(conn)
            ticket = await open_ticket(pool, CaseRules.from_config(CasesConfig()), FRIDAY_1730)
            async with pool.acquire() as conn:
                for n, blob in enumerate(blobs):  # rows as 0007-0016 stored them: bytes in the row
                    await conn.execute(
                        "INSERT INTO attachments (ticket_id, content_type, sha256, size, data, uploaded_by, kind)"
                        " VALUES ($1, 'image/jpeg', sha256($2), length($2), $2, 'x', $3)",
                        ticket,
                        blob,
                        "snapshot" if n % 2 else "photo",
                    )
                # One row whose bytes no longer match their checksum: its bytes are kept, not trusted to the store.
                await conn.execute(
                    "UPDATE attachments SET sha256 = sha256('other') WHERE id = (SELECT min(id) FROM attachments)"
                )
                first = await offload(conn, store, batch=5, limit=10)  # an interrupted run
                assert first.moved + len(first.mismatched) == 10 and first.left == 23 - first.moved
                second = await offload(conn, store, batch=5)  # resumes
                assert first.moved + second.moved == 22 and second.left == 1
                rows = await conn.fetch("SELECT id, data, object_key, sha256, size FROM attachments ORDER BY id")
            assert len(rows) == 23  # no row lost
            [kept] = [r for r in rows if r["data"] is not None]
            assert kept["object_key"] is None and kept["id"] == rows[0]["id"]
            for row, blob in zip(rows[1:], blobs[1:], strict=True):
                stored = await store.get(row["object_key"])
                assert stored == blob and hashlib.sha256(stored).digest() == bytes(row["sha256"])
        finally:
            await pool.close()

    asyncio.run(main())


def test_the_migrate_media_command_moves_a_database_of_bytea_snapshots(tmp_path: Path, database_url: str) -> None:
    """`wangge admin migrate-media` as an operator runs it, against the configured object store."""
    from tests.conftest import gateway_yaml, sql
    from tests.support import wangge_admin

    config = gateway_yaml(tmp_path, database_url, "mqtt://127.0.0.1:1")
    assert wangge_admin(config, "list-users").returncode == 0  # migrates the database
    blobs = [os.urandom(n) for n in (10, 70_000, 300_001)]
    ticket_id = sql(
        database_url,
        "INSERT INTO tickets (correlation_key, title, category, severity, state, opened_at, updated_at)"
        " VALUES ('k', 't', 'x', 'minor', 'reported', now(), now()) RETURNING id",
    )[0][0]
    for blob in blobs:
        sql(
            database_url,
            "INSERT INTO attachments (ticket_id, content_type, sha256, size, data, uploaded_by, kind)"
            " VALUES ($1, 'image/jpeg', sha256($2), length($2), $2, 'edge:x', 'snapshot')",
            ticket_id,
            blob,
        )
    done = wangge_admin(config, "migrate-media", "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert "3 attachments moved" in done.stdout
    rows = sql(database_url, "SELECT object_key, data, sha256 FROM attachments ORDER BY id")
    assert [r["data"] for r in rows] == [None, None, None]
    import yaml

    store = new_object_store(yaml.safe_load(config.read_text())["media"]["bucket"])
    for row, blob in zip(rows, blobs, strict=True):
        assert store.get_sync(row["object_key"]) == blob
        assert bytes(row["sha256"]) == hashlib.sha256(blob).digest()
