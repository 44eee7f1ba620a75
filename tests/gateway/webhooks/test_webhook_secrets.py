"""Webhook secrets and robot URLs at rest and on input: sealed with keys outside the database (rotated without
a failed delivery), masked in every list, validated when given, and a bad one never holds up the others. And a
literal private address in a URL is refused at connect time like a name that resolves to one."""

from __future__ import annotations

import asyncio
import base64
import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.gateway import world as w
from tests.gateway.receivers import Receiver, standard_check, wait_for
from tests.gateway.webhooks.test_webhooks import FAST, deliveries, raise_alert, subscribe
from wangge.gateway.http.app import create_app
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool
from wangge.gateway.webhooks.sealing import SealError, SecretBox, add_key, masked_url
from wangge.gateway.webhooks.subscriptions import reseal_all, seal_plaintext
from wangge.gateway.webhooks.worker import WebhookWorker

Scenario = Callable[[TestClient[Any, Any], w.World, Any, SecretBox, Path], Awaitable[None]]


def run(database_url: str, tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        pool = await create_pool(database_url, max_size=10)
        async with pool.acquire() as conn:
            await migrate(conn)
            world = await w.seed(conn)
        keys = tmp_path / "webhook-keys"
        box = SecretBox.from_environment(keys)
        async with TestClient(TestServer(create_app(pool, {"broker": lambda: True}, secret_box=box))) as client:
            await scenario(client, world, pool, box, keys)
        await pool.close()

    asyncio.run(main())


def test_secrets_and_robot_urls_are_sealed_masked_and_survive_a_key_rotation(database_url: str, tmp_path: Path) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, box: SecretBox, keys: Path) -> None:
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        receiver = await Receiver().start()
        token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
        sub = await subscribe(client, world, url=f"{receiver.url}?access_token={token}", event_types=["ticket.created"])
        receiver.check = standard_check(sub["secret"])
        row = await pool.fetchrow("SELECT * FROM webhook_subscriptions WHERE id = $1", sub["id"])
        # Nothing usable in the database: no plaintext secret, the URL only masked; the sealed forms open with
        # the key file and with nothing else.
        assert row["secret"] is None and token not in row["url"] and token not in row["url_sealed"]
        assert sub["secret"] not in row["secret_sealed"]
        assert row["url"] == f"{receiver.url}?access_token=a1b2…"
        assert box.unseal(row["secret_sealed"]) == sub["secret"]
        try:
            SecretBox(env_keys=base64.urlsafe_b64encode(b"k" * 32).decode()).unseal(row["secret_sealed"])
        except SealError:
            pass
        else:
            raise AssertionError("another key opened the secret")
        listed = await (await client.get("/api/v1/webhooks/subscriptions", headers=world.auth("admin"))).json()
        assert [s["url"] for s in listed["items"]] == [row["url"]] and "secret" not in listed["items"][0]

        worker = WebhookWorker(pool, FAST, box)
        await raise_alert(pool, rule_id="before")
        await wait_for(lambda: len(receiver.requests) == 1, 10, "a delivery", worker.step)
        assert receiver.requests[0].query["access_token"] == token and receiver.problems == []

        # Rotation: a new key first, everything resealed, the old key dropped; deliveries go on.
        old_key = keys.read_text().split()[0]
        add_key(keys)
        async with pool.acquire() as conn:
            assert await reseal_all(conn, box) == 1
        keys.write_text(keys.read_text().split()[0] + "\n")
        resealed = await pool.fetchval("SELECT secret_sealed FROM webhook_subscriptions WHERE id = $1", sub["id"])
        assert resealed != row["secret_sealed"] and old_key not in keys.read_text()
        await raise_alert(pool, rule_id="after")
        await wait_for(lambda: len(receiver.requests) == 2, 10, "a delivery after the rotation", worker.step)
        assert receiver.problems == []
        await worker.close()
        await receiver.stop()

    run(database_url, tmp_path, scenario)


def test_rows_from_before_sealing_are_sealed_at_start(database_url: str, tmp_path: Path) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, box: SecretBox, keys: Path) -> None:
        await pool.execute(
            "INSERT INTO webhook_subscriptions (name, url, format, secret, created_by)"
            " VALUES ('legacy', 'https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef', 'dingtalk',"
            " 'SECabcdef0123456789', 'old')"
        )
        async with pool.acquire() as conn:
            assert await seal_plaintext(conn, box) == 1
        row = await pool.fetchrow("SELECT * FROM webhook_subscriptions WHERE name = 'legacy'")
        assert row["secret"] is None and box.unseal(row["secret_sealed"]) == "SECabcdef0123456789"
        assert row["url"] == "https://oapi.dingtalk.com/robot/send?access_token=0123…"
        assert box.unseal(row["url_sealed"]).endswith("access_token=0123456789abcdef")
        async with pool.acquire() as conn:
            assert await seal_plaintext(conn, box) == 0

    run(database_url, tmp_path, scenario)


def test_bad_secrets_are_refused_on_input_and_one_that_slipped_in_does_not_hold_up_the_batch(
    database_url: str, tmp_path: Path
) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, box: SecretBox, keys: Path) -> None:
        receiver = await Receiver().start()
        short = "whsec_" + base64.b64encode(b"x" * 16).decode()
        for secret, why in (
            (short, "24 to 64 bytes"),
            ("whsec_not*base64!", "not base64"),
            ("plain-secret-123", "whsec_"),
        ):
            resp = await client.post(
                "/api/v1/webhooks/subscriptions",
                json={"name": "x", "url": receiver.url, "secret": secret},
                headers=world.auth("admin"),
            )
            body = await resp.json()
            assert resp.status == 422 and body["invalid_params"][0]["name"] == "secret", body
            assert why in body["invalid_params"][0]["reason"]
        good = "whsec_" + base64.b64encode(b"y" * 32).decode()
        bad = await subscribe(client, world, url=receiver.url, secret=good, event_types=["ticket.created"])
        fine = await subscribe(client, world, url=receiver.url, secret=good, event_types=["ticket.created"])
        # A secret stored before validation existed (or by hand): it cannot sign anything.
        await pool.execute(
            "UPDATE webhook_subscriptions SET secret_sealed = $2 WHERE id = $1", bad["id"], box.seal("whsec_!!")
        )
        receiver.check = standard_check(good)
        worker = WebhookWorker(pool, FAST, box)
        await raise_alert(pool)
        await wait_for(lambda: len(receiver.requests) == 1, 10, "the good subscription's delivery", worker.step)
        await worker.step()
        rows = {r["subscription_id"]: r for r in await deliveries(pool)}
        assert rows[fine["id"]]["state"] == "delivered"
        assert rows[bad["id"]]["state"] == "dead" and "cannot build the request" in rows[bad["id"]]["last_error"]
        disabled = await pool.fetchrow(
            "SELECT enabled, disabled_reason FROM webhook_subscriptions WHERE id = $1", bad["id"]
        )
        assert disabled["enabled"] is False and "cannot build" in disabled["disabled_reason"]
        await worker.close()
        await receiver.stop()

    run(database_url, tmp_path, scenario)


def test_a_literal_private_address_is_refused_at_connect_time(database_url: str, tmp_path: Path) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, box: SecretBox, keys: Path) -> None:
        receiver = await Receiver().start()
        for url in (receiver.url, receiver.url.replace("127.0.0.1", "[::ffff:127.0.0.1]")):
            await subscribe(client, world, url=url, event_types=["ticket.created"])
        worker = WebhookWorker(pool, FAST.model_copy(update={"allow_networks": []}), box)
        await raise_alert(pool)
        await wait_for(lambda: True, 0, "", worker.step)
        errors = [d["last_error"] for d in await deliveries(pool)]
        assert len(errors) == 2 and all("not a globally routable address" in e for e in errors), errors
        assert receiver.requests == []
        await worker.close()
        await receiver.stop()

    run(database_url, tmp_path, scenario)


def test_masked_urls_keep_the_host_and_cut_tokens() -> None:
    assert masked_url("https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") == (
        "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e…"
    )
    assert masked_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a…"
    )
    assert masked_url("https://hooks.example.com/wangge/events") == "https://hooks.example.com/wangge/events"


def test_a_rotated_standard_secret_signs_beside_the_new_one_until_the_overlap_ends(
    database_url: str, tmp_path: Path
) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, box: SecretBox, keys: Path) -> None:
        receiver = await Receiver().start()
        sub = await subscribe(client, world, url=receiver.url, event_types=["ticket.created"])
        old = sub["secret"]
        resp = await client.post(f"/api/v1/webhooks/subscriptions/{sub['id']}/secret", headers=world.auth("admin"))
        assert resp.status == 201
        rotated = await resp.json()
        new = rotated["secret"]
        assert new != old and rotated["previous_valid_until"] is not None
        # Both secrets verify with the reference library while the overlap lasts.
        checks = [standard_check(old), standard_check(new)]
        receiver.check = lambda r: [c(r) for c in checks]
        worker = WebhookWorker(pool, FAST, box)
        until = datetime.fromisoformat(rotated["previous_valid_until"])
        assert timedelta(hours=71) < until - datetime.now(UTC) <= timedelta(hours=72)  # webhooks.secret_overlap_h
        await raise_alert(pool, rule_id="during")
        await wait_for(lambda: len(receiver.requests) == 1, 10, "a delivery in the overlap", worker.step)
        assert receiver.problems == [] and len(receiver.requests[0].headers["webhook-signature"].split()) == 2
        # After it, the old secret no longer signs: only the new one verifies.
        # (The receiver checks timestamps against its own clock, so the overlap is ended in the row, not by
        # moving the worker's clock three days on.)
        await pool.execute("UPDATE webhook_subscriptions SET previous_secret_until = now() - interval '1 second'")
        checks[:] = [standard_check(new)]
        await raise_alert(pool, rule_id="after")
        await wait_for(lambda: len(receiver.requests) == 2, 10, "a delivery after the overlap", worker.step)
        assert receiver.problems == [] and len(receiver.requests[1].headers["webhook-signature"].split()) == 1
        try:
            standard_check(old)(receiver.requests[1])
        except Exception:
            pass
        else:
            raise AssertionError("the old secret still verifies after the overlap")
        refused = await client.post(
            f"/api/v1/webhooks/subscriptions/{sub['id']}/secret", headers=world.auth("c1-operator")
        )
        assert refused.status == 403
        assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE kind = 'webhook.secret_rotated'") == 1
        await worker.close()
        await receiver.stop()

    run(database_url, tmp_path, scenario)


def test_a_replica_with_other_keys_leaves_the_deliveries_to_one_that_has_them(
    database_url: str, tmp_path: Path
) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, box: SecretBox, keys: Path) -> None:
        receiver = await Receiver().start()
        await subscribe(client, world, url=receiver.url, event_types=["ticket.created"])
        stranger = WebhookWorker(pool, FAST, SecretBox(env_keys=base64.urlsafe_b64encode(b"o" * 32).decode()))
        await raise_alert(pool)
        assert await stranger.step() is False
        assert stranger.keys_ok is False and receiver.requests == []
        [pending] = await deliveries(pool)
        assert (pending["state"], pending["attempts"], pending["lease_until"]) == ("pending", 0, None)
        right = WebhookWorker(pool, FAST, box)
        await wait_for(lambda: len(receiver.requests) == 1, 10, "the delivery by a replica with the keys", right.step)
        assert right.keys_ok is True
        for wk in (stranger, right):
            await wk.close()
        await receiver.stop()

    run(database_url, tmp_path, scenario)
