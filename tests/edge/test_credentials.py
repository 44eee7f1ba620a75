"""The edge keeps its HTTPS token fresh against a real gateway app and PostgreSQL: it rotates ahead of expiry,
writes the new token over its file (mode 600) and picks up a token an operator wrote there, without a restart."""

from __future__ import annotations

import asyncio
import json
import stat
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from tests.support import free_port
from tests.test_alert_format import alert
from wangge.edge.credentials import EdgeToken
from wangge.gateway.accounts.broker import provision_edge
from wangge.gateway.accounts.config import AccountsConfig
from wangge.gateway.http.app import create_app
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_the_edge_rotates_its_token_before_it_expires_and_reads_a_replaced_file(
    database_url: str, tmp_path: Path
) -> None:
    async def main() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            _, first = await provision_edge(conn, "estate-r", None, NOW - timedelta(days=70), timedelta(days=90))
        accounts = AccountsConfig(edge_token_days=90, edge_token_grace_h=1)
        runner = web.AppRunner(create_app(pool, {}, clock=lambda: NOW, accounts=accounts))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        token_file = tmp_path / "edge-token"
        token_file.write_text(first + "\n")
        edge = EdgeToken(token_file, base, "estate-r", timedelta(days=30), clock=lambda: NOW)
        try:
            at = NOW.isoformat().replace("+00:00", "Z")

            def post_alert() -> tuple[int, dict[str, str]]:
                request = urllib.request.Request(
                    f"{base}/api/v1/edges/estate-r/alerts",
                    data=json.dumps(alert(edge_id="estate-r", started_at=at, at=at, emitted_at=at)).encode(),
                    method="POST",
                    headers={"Authorization": f"Bearer {edge.value()}", "Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as reply:
                    edge.after_reply(reply.headers)
                    return reply.status, dict(reply.headers)

            # 20 days left, fewer than the 30 the edge keeps in hand: this reply makes it rotate.
            status, headers = await asyncio.to_thread(post_alert)
            assert status == 200
            assert datetime.fromisoformat(headers["Wangge-Token-Expires"]) == NOW + timedelta(days=20)
            assert edge.rotations == 1
            second = token_file.read_text().strip()
            assert second != first and second.startswith("wg_")
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
            # The new token has its full life: the next reply says 90 days and nothing rotates.
            status, headers = await asyncio.to_thread(post_alert)
            assert datetime.fromisoformat(headers["Wangge-Token-Expires"]) == NOW + timedelta(days=90)
            assert edge.rotations == 1
            # The old token overlaps for the grace hour (a request already under way is not refused).
            expires = await pool.fetchval(
                "SELECT expires_at FROM api_tokens WHERE edge_id = 'estate-r' ORDER BY id LIMIT 1"
            )
            assert expires == NOW + timedelta(hours=1)
            # An operator writes a token by hand: the next request uses it.
            token_file.write_text("wg_written-by-hand\n")
            assert edge.value() == "wg_written-by-hand"
            # The gateway refusing a rotation leaves the file alone.
            assert await asyncio.to_thread(edge.rotate) is False
            assert token_file.read_text().strip() == "wg_written-by-hand"
        finally:
            await runner.cleanup()
            await pool.close()

    asyncio.run(main())


def test_a_missing_token_file_makes_snapshot_uploads_wait_not_die(tmp_path: Path) -> None:
    from wangge.edge.video.evidence import SnapshotSpool

    token_file = tmp_path / "edge-token"
    token_file.write_text("wg_first\n")
    edge = EdgeToken(token_file, "http://127.0.0.1:9", "estate-r")
    spool = SnapshotSpool(tmp_path / "snaps", "estate-r", "http://127.0.0.1:9", edge)
    token_file.unlink()  # an operator replacing it by hand, caught in between
    spool.put("00000000-0000-4000-8000-000000000000", b"\xff\xd8", {})
    spool.start()
    try:
        time.sleep(1.0)
        assert spool._thread.is_alive()
        assert (tmp_path / "snaps" / "00000000-0000-4000-8000-000000000000.jpg").exists()  # kept for later
    finally:
        spool.stop()
