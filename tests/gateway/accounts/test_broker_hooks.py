"""EMQX asks the gateway about every login and topic (HTTP authentication and authorisation): the answers
follow the provisioned identities in PostgreSQL and the same rules as the shipped Mosquitto ACL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pyhocon import ConfigFactory

from tests.support import metric_value
from wangge.gateway.accounts.broker import GATEWAY_USER, BrokerHooks, broker_may, provision_edge
from wangge.gateway.accounts.emqx import emqx_auth_hocon
from wangge.gateway.http.app import create_app
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool

SECRET = "hook-secret-" + "x" * 24
HOOK = {"Authorization": f"Bearer {SECRET}"}


def test_logins_are_checked_against_the_provisioned_identities(database_url: str) -> None:
    async def main() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            password, _ = await provision_edge(conn, "estate-7", None, datetime.now(UTC), timedelta(days=1))
        hooks = BrokerHooks(SECRET, "gateway-password-123")
        async with TestClient(TestServer(create_app(pool, {}, broker_hooks=hooks))) as client:

            async def login(username: str, pw: str, headers: dict[str, str] = HOOK) -> Any:
                resp = await client.post(
                    "/api/v1/broker/authenticate",
                    json={"username": username, "password": pw, "clientid": "c", "peerhost": "10.0.0.9"},
                    headers=headers,
                )
                return resp.status, (await resp.json()).get("result")

            assert await login("estate-7", password) == (200, "allow")
            assert await login("estate-7", password + "x") == (200, "deny")
            assert await login("estate-8", password) == (200, "deny")
            assert await login(GATEWAY_USER, "gateway-password-123") == (200, "allow")
            assert await login(GATEWAY_USER, "gateway-password-12") == (200, "deny")
            assert await login("estate-7", password, {}) == (401, None)
            assert await login("estate-7", password, {"Authorization": "Bearer nope"}) == (401, None)
            resp = await client.post(
                "/api/v1/broker/authorize",
                json={"username": "estate-7", "topic": "wangge/edge/estate-8/alerts", "action": "publish"},
                headers=HOOK,
            )
            assert (await resp.json())["result"] == "deny"
            metrics = await (await client.get("/metrics")).text()
            assert metric_value(metrics, "wangge_gateway_broker_refusals_total", {"kind": "login"}) >= 3
            assert metric_value(metrics, "wangge_gateway_broker_refusals_total", {"kind": "publish"}) >= 1
        async with TestClient(TestServer(create_app(pool, {}))) as client:
            off = await client.post("/api/v1/broker/authenticate", json={"username": "a", "password": "b"})
            assert off.status == 404
        await pool.close()

    asyncio.run(main())


# (username, action, topic, allowed) — worked out from docker/mosquitto/acl line by line.
CASES = [
    ("estate-7", "publish", "wangge/edge/estate-7/alerts", True),
    ("estate-7", "publish", "wangge/edge/estate-7/status", True),
    ("estate-7", "subscribe", "wangge/edge/estate-7/confirms", True),
    ("estate-7", "subscribe", "wangge/edge/estate-7/commands", True),
    ("estate-7", "publish", "wangge/edge/estate-8/alerts", False),
    ("estate-7", "publish", "wangge/edge/estate-7/confirms", False),
    ("estate-7", "subscribe", "wangge/edge/estate-8/confirms", False),
    ("estate-7", "subscribe", "wangge/edge/+/alerts", False),
    ("estate-7", "subscribe", "wangge/edge/estate-7/alerts", False),
    ("estate-7", "subscribe", "$share/gateway/wangge/edge/+/alerts", False),
    ("estate-7", "subscribe", "#", False),
    ("estate-7", "publish", "wangge/edge/estate-7/alerts/extra", False),
    (GATEWAY_USER, "subscribe", "$share/gateway/wangge/edge/+/alerts", True),
    (GATEWAY_USER, "subscribe", "wangge/edge/+/status", True),
    (GATEWAY_USER, "subscribe", "wangge/edge/estate-7/alerts", True),
    (GATEWAY_USER, "publish", "wangge/edge/estate-7/confirms", True),
    (GATEWAY_USER, "publish", "wangge/edge/estate-7/commands", True),
    (GATEWAY_USER, "publish", "wangge/edge/estate-7/alerts", False),
    (GATEWAY_USER, "publish", "wangge/edge/+/confirms", False),
    (GATEWAY_USER, "subscribe", "wangge/edge/#", False),
    (GATEWAY_USER, "subscribe", "$SYS/#", False),
]


@pytest.mark.parametrize(("username", "action", "topic", "allowed"), CASES)
def test_topic_rules_match_the_shipped_acl(username: str, action: str, topic: str, allowed: bool) -> None:
    assert broker_may(username, action, topic) is allowed


def test_the_emqx_file_parses_and_keeps_emqx_placeholders_for_emqx() -> None:
    text = emqx_auth_hocon("http://gateway:8080/", SECRET, "dashboard-password-1")
    config = ConfigFactory.parse_string(text, resolve=False)
    [authn] = config["authentication"]
    assert (authn["backend"], authn["mechanism"], authn["method"]) == ("http", "password_based", "post")
    assert authn["url"] == "http://gateway:8080/api/v1/broker/authenticate"
    assert authn["headers"]["authorization"] == f"Bearer {SECRET}"
    assert authn["body"]["password"] == "${password}"
    authz = config["authorization"]
    assert authz["no_match"] == "deny" and authz["sources"][0]["body"]["action"] == "${action}"
    assert config["dashboard"]["default_password"] == "dashboard-password-1"
