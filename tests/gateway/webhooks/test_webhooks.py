"""Webhook delivery against real local receivers that verify each vendor's signature as documented."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from prometheus_client import REGISTRY

from tests.gateway import world as w
from tests.gateway.receivers import (
    Received,
    Receiver,
    dingtalk_check,
    feishu_check,
    robot_ok,
    standard_check,
    wait_for,
    wecom_check,
)
from tests.test_alert_format import alert
from wangge.gateway.http.app import create_app
from wangge.gateway.ingest.batch import Incoming, prepare
from wangge.gateway.ingest.store import store
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool
from wangge.gateway.webhooks import store as webhook_store
from wangge.gateway.webhooks.config import WebhooksConfig
from wangge.gateway.webhooks.sealing import SecretBox
from wangge.gateway.webhooks.worker import WebhookWorker, retry_after_seconds

FAST = WebhooksConfig(
    allow_networks=["127.0.0.1/32"],
    retry_schedule=["200ms", "300ms", "400ms"],
    breaker_failures=3,
    breaker_open_s=1,
    poll_s=0.05,
    lease_s=5,
    read_timeout_s=0.5,
    connect_timeout_s=0.5,
)
Scenario = Callable[[TestClient[Any, Any], w.World, Any, Callable[..., Awaitable[WebhookWorker]]], Awaitable[None]]


def run(database_url: str, scenario: Scenario) -> None:
    async def main() -> None:
        pool = await create_pool(database_url, max_size=10)
        async with pool.acquire() as conn:
            await migrate(conn)
            world = await w.seed(conn)
        workers: list[WebhookWorker] = []
        box = SecretBox(env_keys=Fernet.generate_key().decode())

        async def worker(config: WebhooksConfig = FAST) -> WebhookWorker:
            workers.append(WebhookWorker(pool, config, box))
            return workers[-1]

        app = create_app(pool, {"broker": lambda: True}, secret_box=box)
        async with TestClient(TestServer(app)) as client:
            await scenario(client, world, pool, worker)
        for wk in workers:
            await wk.close()
        await pool.close()

    asyncio.run(main())


async def subscribe(client: TestClient[Any, Any], world: w.World, **body: Any) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/webhooks/subscriptions", json={"name": "test", **body}, headers=world.auth("admin")
    )
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def raise_alert(pool: Any, **changes: Any) -> None:
    message = alert(edge_id="demo-estate", source={"kind": "sensor", "device_id": "underpass-gauge-1"}, **changes)
    async with pool.acquire() as conn:
        batch = prepare([Incoming(1, 1, 1, "wangge/edge/demo-estate/alerts", json.dumps(message).encode())])
        await store(conn, batch, w.SEPARATE_CASES)  # each alert a case of its own


async def deliveries(pool: Any) -> list[Any]:
    return list(await pool.fetch("SELECT * FROM webhook_deliveries ORDER BY id"))


def test_standard_webhooks_are_signed_and_keep_their_id_across_retries(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        async def flaky(r: Received, n: int) -> web.Response:
            return web.Response(status=500 if n == 1 else 200)

        receiver = await Receiver(respond=flaky).start()
        sub = await subscribe(client, world, url=receiver.url, event_types=["ticket.created"])
        assert sub["secret"].startswith("whsec_")
        receiver.check = standard_check(sub["secret"])
        worker = await make()
        await raise_alert(pool)
        await wait_for(lambda: len(receiver.requests) >= 2, 10, "a retry", worker.step)
        [first, second] = receiver.requests
        assert receiver.problems == []
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        body = second.json()
        assert body["type"] == "ticket.created" and body["data"]["ticket"]["category"] == "emergencies.water_logging"
        await wait_for(lambda: True, 0, "", worker.step)
        [delivery] = await deliveries(pool)
        assert (delivery["state"], delivery["attempts"], delivery["message_id"]) == (
            "delivered",
            2,
            first.headers["webhook-id"],
        )
        attempts = await (
            await client.get(f"/api/v1/webhooks/deliveries/{delivery['id']}/attempts", headers=world.auth("admin"))
        ).json()
        assert [a["status"] for a in attempts["items"]] == [500, 200]
        assert all(a["latency_ms"] > 0 for a in attempts["items"])
        await receiver.stop()

    run(database_url, scenario)


def test_a_forged_signature_fails_the_reference_verifier() -> None:
    """The receiver check is real: a body changed after signing is refused by the standardwebhooks library."""
    import pytest
    from standardwebhooks.webhooks import WebhookVerificationError

    from wangge.gateway.webhooks import formats

    secret = formats.new_secret("standard")
    event = formats.Event(1, "ticket.created", "2026-01-01T00:00:00+00:00", {"ticket": {"id": 1}})
    request = formats.build("standard", "http://x/hook", secret, "msg_1_1", [event], datetime.now(UTC).timestamp())
    check = standard_check(secret)
    check(Received(0, "/", {}, request.headers, request.body))
    with pytest.raises(WebhookVerificationError):
        check(Received(0, "/", {}, request.headers, request.body.replace(b'"id":1', b'"id":2')))


def test_robot_formats_verify_as_their_vendors_document_and_bursts_become_one_digest(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        ding = await Receiver(respond=robot_ok()).start()
        wecom = await Receiver(check=wecom_check, respond=robot_ok()).start()
        feishu = await Receiver(respond=robot_ok("code")).start()
        d = await subscribe(
            client,
            world,
            url=ding.url + "?access_token=abc",
            format="dingtalk",
            event_types=["ticket.created"],
            rate_per_min=3,
        )
        ding.check = dingtalk_check(d["secret"])
        await subscribe(client, world, url=wecom.url + "?key=k1", format="wecom", event_types=["ticket.created"])
        f = await subscribe(client, world, url=feishu.url, format="feishu", event_types=["ticket.created"])
        feishu.check = feishu_check(f["secret"])
        worker = await make()
        for i in range(40):  # a burst: 40 tickets at once
            await raise_alert(pool, rule_id=f"rule-{i}", title=f"积水 water {i} " + "x" * 100)
        await wait_for(
            lambda: ding.requests and wecom.requests and feishu.requests, 10, "all three robots", worker.step
        )
        for receiver in (ding, wecom, feishu):
            assert receiver.problems == []
            assert len(receiver.requests) == 1  # one digest, not 40 messages
        assert "40 条事件" in ding.requests[0].json()["markdown"]["title"]
        content = wecom.requests[0].json()["markdown"]["content"]
        assert len(content.encode()) <= 4096 and "more in the console" in content
        states = {r["state"] for r in await deliveries(pool)}
        assert states == {"delivered"}
        # Past the robot's rate, events wait (never dropped) and go out merged when the window allows.
        for i in range(4):
            await raise_alert(pool, rule_id=f"later-{i}")
            for _ in range(5):
                await worker.step()
        assert len(ding.requests) == 3  # rate_per_min=3: two more singles, then it waits
        single = ding.requests[1].json()["markdown"]["text"]
        assert "- 类别 category: 积水内涝 Water logging\n" in single  # people read names; codes stay in the API
        assert "emergencies.water_logging" not in single
        waiting = await pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1 AND state = 'pending'", d["id"]
        )
        assert waiting == 2
        for r in (ding, wecom, feishu):
            await r.stop()

    run(database_url, scenario)


def test_retry_after_410_hangs_the_breaker_dead_letters_and_replay(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        mode = {"now": "429"}

        async def respond(r: Received, n: int) -> web.Response:
            if mode["now"] == "429":
                return web.Response(status=429, headers={"Retry-After": "2"})
            if mode["now"] == "hang":
                await asyncio.sleep(2)
            if mode["now"] == "500" or mode["now"] == "hang":
                return web.Response(status=500)
            if mode["now"] == "410":
                return web.Response(status=410)
            return web.Response(status=200)

        receiver = await Receiver(respond=respond).start()
        sub = await subscribe(client, world, url=receiver.url, event_types=["ticket.created"])
        worker = await make()
        await raise_alert(pool)
        await wait_for(lambda: receiver.requests, 5, "the first attempt", worker.step)
        [delivery] = await deliveries(pool)
        assert delivery["state"] == "pending" and delivery["last_status"] == 429
        wait = (delivery["next_attempt_at"] - datetime.now(UTC)).total_seconds()
        assert 1.5 < wait <= 2.1  # Retry-After beats the 200 ms schedule
        mode["now"] = "hang"
        await wait_for(lambda: len(receiver.requests) >= 2, 5, "the second attempt", worker.step)
        [delivery] = await deliveries(pool)
        assert delivery["last_error"] == "timed out"
        mode["now"] = "500"
        await wait_for(lambda: len(receiver.requests) >= 3, 5, "a third attempt", worker.step)
        row = await pool.fetchrow("SELECT failures_in_row, circuit_open_until FROM webhook_subscriptions")
        assert row["failures_in_row"] == 3 and row["circuit_open_until"] is not None  # breaker open
        await wait_for(lambda: len(receiver.requests) >= 4, 5, "the last attempt", worker.step)
        [delivery] = await deliveries(pool)
        assert (delivery["state"], delivery["attempts"]) == ("dead", 4)  # first + 3 retries
        mode["now"] = "ok"
        resp = await client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=world.auth("admin"))
        assert resp.status == 200
        await wait_for(lambda: len(receiver.requests) >= 5, 5, "the replay", worker.step)
        await wait_for(lambda: True, 0, "", worker.step)
        [delivery] = await deliveries(pool)
        assert delivery["state"] == "delivered"
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        resp = await client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=world.auth("admin"))
        assert resp.status == 409
        # 410: the subscription is switched off and its waiting deliveries cancelled.
        mode["now"] = "410"
        await raise_alert(pool, rule_id="a")
        await wait_for(lambda: len(receiver.requests) >= 6, 5, "the 410", worker.step)
        await raise_alert(pool, rule_id="b")
        for _ in range(5):
            await worker.step()
        row = await pool.fetchrow("SELECT enabled, disabled_reason FROM webhook_subscriptions WHERE id = $1", sub["id"])
        assert row["enabled"] is False and "410" in row["disabled_reason"]
        assert len(receiver.requests) == 6
        await receiver.stop()

    run(database_url, scenario)


def test_private_destinations_are_refused_unless_allowed_and_urls_are_checked(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        receiver = await Receiver().start()
        await subscribe(
            client, world, url=receiver.url.replace("127.0.0.1", "localhost"), event_types=["ticket.created"]
        )
        worker = await make(FAST.model_copy(update={"allow_networks": []}))
        await raise_alert(pool)
        await wait_for(lambda: True, 0, "", worker.step)
        [delivery] = await deliveries(pool)
        assert delivery["last_error"].startswith("refused destination") and receiver.requests == []
        for bad in ("ftp://example.com/x", "http://user:pw@example.com/x", "not a url"):
            resp = await client.post(
                "/api/v1/webhooks/subscriptions", json={"name": "x", "url": bad}, headers=world.auth("admin")
            )
            assert resp.status == 422, bad
        resp = await client.post(
            "/api/v1/webhooks/subscriptions",
            json={"name": "x", "url": receiver.url, "event_types": ["ticket.exploded"]},
            headers=world.auth("admin"),
        )
        assert resp.status == 422 and (await resp.json())["invalid_params"][0]["name"].startswith("event_types")
        resp = await client.post(
            "/api/v1/webhooks/subscriptions", json={"name": "x", "url": receiver.url}, headers=world.auth("c1-operator")
        )
        assert resp.status == 403
        await receiver.stop()

    run(database_url, scenario)


def test_filters_choose_what_each_subscription_gets_and_two_workers_never_send_twice(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        everything, east_fire, west = [await Receiver().start() for _ in range(3)]
        await subscribe(client, world, url=everything.url)
        await subscribe(
            client,
            world,
            url=east_fire.url,
            region=w.STREET_EAST,
            categories=["emergencies.fire"],
            severities=["critical"],
        )
        await subscribe(client, world, url=west.url, region=w.COMMUNITY_2)
        first, second = await make(), await make()
        await raise_alert(pool, category="emergencies.fire", severity="critical")
        await raise_alert(pool, category="emergencies.fire", severity="minor", rule_id="x")
        await raise_alert(pool, category="emergencies.water_logging", rule_id="y")
        for _ in range(6):
            await asyncio.gather(first.step(), second.step())
        kinds = [r.json()["type"] for r in everything.requests]
        assert sorted(kinds) == ["alert.received"] * 3 + ["ticket.created"] * 3
        assert len({r.headers["webhook-id"] for r in everything.requests}) == 6  # no request sent twice
        assert [r.json()["data"]["ticket"]["severity"] for r in east_fire.requests] == ["critical", "critical"]
        assert west.requests == []
        for r in (everything, east_fire, west):
            await r.stop()

    run(database_url, scenario)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
    assert retry_after_seconds("Wed, 31 Dec 2025 23:00:00 GMT", now + timedelta(0)) == 0


def test_admin_cli_adds_and_lists_webhooks(tmp_path: Any, database_url: str) -> None:
    import subprocess
    import sys

    from tests.support import write_yaml

    config = write_yaml(tmp_path / "gateway.yaml", {"database_url": database_url, "data_dir": str(tmp_path / "gw")})
    base = [sys.executable, "-m", "wangge", "admin"]
    out = subprocess.run(
        [
            *base,
            "add-webhook",
            "--config",
            str(config),
            "--name",
            "城管群",
            "--format",
            "dingtalk",
            "--url",
            "https://oapi.dingtalk.com/robot/send?access_token=x",
            "--event",
            "ticket.escalated",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "subscription 1 created" in out and "secret: SEC" in out
    bad = subprocess.run(
        [
            *base,
            "add-webhook",
            "--config",
            str(config),
            "--name",
            "x",
            "--url",
            "https://x.example",
            "--event",
            "ticket.exploded",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "event_types[0]" in bad.stderr
    listed = subprocess.run(
        [*base, "list-webhooks", "--config", str(config)], capture_output=True, text=True, check=True
    ).stdout
    assert "dingtalk" in listed and "pending=0 dead=0 城管群" in listed

    # Key rotation from the command line: a new key first, then everything sealed again with it.
    keys = tmp_path / "gw" / "webhook-keys"
    first = keys.read_text().split()
    rotated = subprocess.run(
        [*base, "new-webhook-key", "--config", str(config)], capture_output=True, text=True, check=True
    ).stdout
    assert "reseal-webhook-secrets" in rotated and keys.read_text().split()[1:] == first
    resealed = subprocess.run(
        [*base, "reseal-webhook-secrets", "--config", str(config)], capture_output=True, text=True, check=True
    ).stdout
    assert "1 subscription" in resealed


async def slow_receiver_and_two_replicas(
    client: TestClient[Any, Any], world: w.World, pool: Any, make: Any, tickets: int, concurrency: int
) -> tuple[Receiver, WebhookWorker, WebhookWorker]:
    """A receiver taking 0.3 s per request, two replicas with a 0.6 s lease, and `tickets` tickets to announce."""

    async def slow(r: Received, n: int) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(status=200)

    receiver = await Receiver(respond=slow).start()
    await subscribe(client, world, url=receiver.url, event_types=["ticket.created"])
    tight = FAST.model_copy(update={"lease_s": 0.6, "batch": tickets, "concurrency": concurrency, "read_timeout_s": 2})
    first, second = await make(tight), await make(tight)
    for i in range(tickets):
        await raise_alert(pool, rule_id=f"r{i}")
    return receiver, first, second


def test_a_batch_slower_than_its_lease_is_not_taken_over_by_another_replica(database_url: str) -> None:
    """A replica sends a claimed batch a few at a time; the lease must cover the ones still waiting their turn,
    or a second replica takes them over when it runs out and both send them."""

    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        receiver, first, second = await slow_receiver_and_two_replicas(client, world, pool, make, 12, 2)
        sending = asyncio.create_task(first.step())  # 12 claimed, 2 at a time: 6 × 0.3 s = 1.8 s > 0.6 s lease
        await asyncio.sleep(0.1)
        while not sending.done():
            await second.step()
            await asyncio.sleep(0.05)
        await sending
        await wait_for(lambda: len(receiver.requests) >= 12, 10, "12 deliveries", second.step)
        await asyncio.sleep(0.5)
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert len(ids) == 12 and len(set(ids)) == 12, f"{len(ids) - len(set(ids))} sent twice"
        assert [d["state"] for d in await deliveries(pool)] == ["delivered"] * 12
        await receiver.stop()

    run(database_url, scenario)


def test_a_claim_that_ran_out_moves_nothing_that_the_replica_which_took_it_over_holds(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        await subscribe(client, world, url="http://127.0.0.1:9/hook", event_types=["ticket.created"])
        await raise_alert(pool)
        failed = webhook_store.Outcome(False, 503, 5.0, "HTTP 503")
        async with pool.acquire() as conn:
            await webhook_store.fan_out(conn)
            now = datetime.now(UTC)  # the fan-out made the delivery due at its own now()
            args = (now, [5.0, 60.0], 5, 60.0)
            [stale] = await webhook_store.claim(conn, now, 10, 1)  # attempt 1, leased for 1 s
            [taken] = await webhook_store.claim(conn, now + timedelta(seconds=2), 10, 60)  # ran out: attempt 2
            assert (stale.id, stale.attempts, taken.attempts) == (taken.id, 1, 2)
            assert await webhook_store.renew(conn, [stale], now, 60) == set()
            assert await webhook_store.renew(conn, [taken], now, 60) == {taken.id}
            sub = webhook_store.Subscription(stale.subscription_id, "http://127.0.0.1:9/hook", "standard", None, 0)
            # The first replica's late failure while the second is sending: still the second's, not pending
            # (which would let a third replica claim and send it as well).
            await webhook_store.record(conn, sub, [stale], failed, *args)
            [d] = await deliveries(pool)
            assert (d["state"], d["attempts"]) == ("delivering", 2)
            assert (
                await webhook_store.record(conn, sub, [taken], webhook_store.Outcome(True, 200, 5.0), *args)
                == "delivered"
            )
            await webhook_store.record(conn, sub, [stale], failed, *args)  # and after it was delivered
            [d] = await deliveries(pool)
            assert (d["state"], d["attempts"], d["last_status"]) == ("delivered", 2, 200)
            assert await webhook_store.claim(conn, now + timedelta(hours=1), 10, 60) == []
            attempts = await conn.fetchval(
                "SELECT count(*) FROM webhook_attempts WHERE $1 = ANY(delivery_ids)", d["id"]
            )
            assert attempts == 3  # every attempt is still logged

    run(database_url, scenario)


def test_a_replica_that_lost_its_leases_in_a_stall_leaves_those_deliveries_to_the_one_that_took_them(
    database_url: str,
) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, make: Any) -> None:
        receiver, first, second = await slow_receiver_and_two_replicas(client, world, pool, make, 10, 1)
        lost_before = REGISTRY.get_sample_value("wangge_gateway_webhook_leases_lost_total") or 0
        sending = asyncio.create_task(first.step())
        await wait_for(lambda: len(receiver.requests) >= 1, 5, "the first request", lambda: asyncio.sleep(0))
        # What another replica's claim does to a delivery whose lease ran out while this one stalled.
        taken = await pool.fetchval(
            "WITH t AS (UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = now() - interval '1 s'"
            " WHERE state = 'delivering' RETURNING 1) SELECT count(*) FROM t"
        )
        assert taken == 10
        await sending
        sent_by_first = len(receiver.requests)
        lost = (REGISTRY.get_sample_value("wangge_gateway_webhook_leases_lost_total") or 0) - lost_before
        # The one in flight when the renewal found them gone was sent (and is recorded); none after it.
        assert sent_by_first <= 2 and lost >= 10 - sent_by_first
        await wait_for(lambda: len(receiver.requests) >= 10, 10, "the rest", second.step)
        await asyncio.sleep(0.5)
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert len(ids) == 10 and len(set(ids)) == 10
        assert [d["state"] for d in await deliveries(pool)] == ["delivered"] * 10
        await receiver.stop()

    run(database_url, scenario)
