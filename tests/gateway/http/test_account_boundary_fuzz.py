"""The boundaries this issue added, fed arbitrary JSON through the real app and PostgreSQL: the broker hooks,
account management and edge-token rotation answer with a verdict or a 4xx naming the problem, never a 5xx,
and change nothing they were not asked to; the topic rules never let an edge name a shared group."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway import world as w
from tests.gateway.ingest.test_boundary_fuzz import json_values, text
from wangge.edge.credentials import EdgeToken
from wangge.gateway.accounts.broker import GATEWAY_USER, BrokerHooks, broker_may, provision_edge
from wangge.gateway.accounts.config import AccountsConfig
from wangge.gateway.http.app import create_app
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool

SECRET = "hook-secret-" + "y" * 24
FIELDS = ["username", "password", "topic", "action", "role", "region", "disabled", "display_name", "clientid"]
bodies = st.one_of(
    json_values, st.dictionaries(st.sampled_from([*FIELDS, "current_password"]), json_values, max_size=6)
)


def test_arbitrary_bodies_at_the_new_boundaries_get_a_verdict_or_a_4xx(database_url: str) -> None:
    async def main() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await migrate(conn)
            world = await w.seed(conn)
            _, edge_token = await provision_edge(conn, "estate-z", None, datetime.now(UTC), timedelta(days=90))
        app = create_app(
            pool,
            {},
            broker_hooks=BrokerHooks(SECRET, "gateway-password"),
            accounts=AccountsConfig(password_checks_per_s=1000),
        )
        targets = [
            ("POST", "/api/v1/broker/authenticate", {"Authorization": f"Bearer {SECRET}"}),
            ("POST", "/api/v1/broker/authorize", {"Authorization": f"Bearer {SECRET}"}),
            ("POST", "/api/v1/users", world.auth("street-supervisor")),
            ("PATCH", "/api/v1/users/c1-worker", world.auth("street-supervisor")),
            ("POST", "/api/v1/users/c1-worker/password", world.auth("admin")),
            ("POST", "/api/v1/edges/estate-z/token", {"Authorization": f"Bearer {edge_token}"}),
        ]
        users_before = await pool.fetch("SELECT username, role, region_id FROM users ORDER BY id")
        async with TestClient(TestServer(app)) as client:
            seen: list[tuple[str, int]] = []

            @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
            @given(st.sampled_from(range(len(targets))), bodies)
            def one(which: int, body: Any) -> None:
                method, path, headers = targets[which]
                data = json.dumps(body, allow_nan=False).encode()

                async def call() -> tuple[int, Any]:
                    resp = await client.request(
                        method, path, data=data, headers={**headers, "Content-Type": "application/json"}
                    )
                    return resp.status, await resp.json()

                status, answer = asyncio.run_coroutine_threadsafe(call(), loop).result(30)
                assert status < 500, (path, body, answer)
                if path.startswith("/api/v1/broker/") and status == 200:
                    assert answer["result"] in ("allow", "deny")
                    assert (
                        answer["result"] == "deny"
                        or body.get("password") == "gateway-password"
                        or (path.endswith("authorize"))
                    ), body
                elif status >= 400:
                    assert answer["status"] == status and answer.get("detail"), answer
                seen.append((path, status))

            loop = asyncio.get_running_loop()
            await asyncio.to_thread(one)
        # Random PATCH bodies may legitimately change c1-worker (a supervisor may rename or disable them); no
        # one else's row changes, and nobody became an admin or supervisor.
        after = {r["username"]: r for r in await pool.fetch("SELECT username, role, region_id FROM users")}
        for row in users_before:
            if row["username"] != "c1-worker":
                assert dict(after[row["username"]]) == dict(row)
        assert {r["role"] for name, r in after.items() if name not in {u for u, _, _ in w.USERS}} <= {
            "operator",
            "grid_worker",
        }
        assert after["c1-worker"]["role"] in ("operator", "grid_worker")
        assert len({p for p, _ in seen}) == len(targets)
        await pool.close()

    asyncio.run(main())


@given(st.text(max_size=40), st.sampled_from(["publish", "subscribe", "receive", ""]), st.text(max_size=80))
def test_no_identity_but_the_gateway_may_name_a_shared_group(username: str, action: str, topic: str) -> None:
    allowed = broker_may(username, action, topic)
    if username != GATEWAY_USER and topic.startswith("$share"):
        assert allowed is False
    if allowed and username != GATEWAY_USER:
        assert topic.split("/")[:3] == ["wangge", "edge", username]


@given(text)
def test_an_edge_survives_any_expiry_header(value: str) -> None:
    """A reply's Wangge-Token-Expires is the gateway's, but the edge trusts no input: odd text is logged."""
    token = EdgeToken.__new__(EdgeToken)
    token._rotate_before = timedelta(days=30)
    token._clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)
    calls: list[bool] = []
    token.rotate = lambda: calls.append(True) or True  # type: ignore[method-assign]
    token.after_reply({"Wangge-Token-Expires": value})
    try:
        expires = datetime.fromisoformat(value)
    except ValueError:
        assert calls == []
        return
    due = expires.tzinfo is not None and expires - datetime(2026, 1, 1, tzinfo=UTC) <= timedelta(days=30)
    assert calls == ([True] if due else [])
