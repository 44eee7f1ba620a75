"""Sign-in under a password-guessing flood: the guesses get 429 with Retry-After, the password checks run off
the event loop (other requests keep being answered while they run), and a throttled user is throttled however
right the next password is, until the window passes."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import count, gateway_yaml, start_gateway
from tests.gateway.http.test_api import with_api
from tests.gateway.world import USERS
from tests.support import Mosquitto, http_json, http_text, metric_value, mqtt_publisher, running, wait_until
from tests.test_alert_format import alert


def test_a_login_flood_is_throttled_and_does_not_freeze_the_gateway(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], auth: dict[str, str], pool: Any) -> None:
        username = USERS[1][0]
        stalls: list[float] = []
        flooding = True

        async def meanwhile() -> None:
            """A signed-in operator's requests while the flood runs: each answered without waiting for it."""
            while flooding:
                started = time.perf_counter()
                resp = await client.get("/api/v1/me", headers=auth)
                assert resp.status == 200
                stalls.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)

        async def guess(i: int) -> tuple[int, str | None]:
            resp = await client.post("/api/v1/auth/login", json={"username": username, "password": f"guess-{i}"})
            return resp.status, resp.headers.get("Retry-After")

        # Warm the pool first: opening its connections is not what this measures.
        await asyncio.gather(*(client.get("/api/v1/me", headers=auth) for _ in range(6)))
        watcher = asyncio.create_task(meanwhile())
        results = await asyncio.gather(*(guess(i) for i in range(50)))
        flooding = False
        await watcher
        statuses = [s for s, _ in results]
        assert set(statuses) <= {401, 429} and statuses.count(429) >= 40, statuses
        assert 1 <= statuses.count(401) <= 8  # at most the checks that may run or wait at once
        assert all(int(after) >= 1 for s, after in results if s == 429 and after is not None)
        assert all(after is not None for s, after in results if s == 429)
        # 50 argon2 checks on the loop would hold it for seconds; off it, /me answers between them.
        assert len(stalls) >= 3 and max(stalls) < 1.0, stalls

        # Five failures lock the user for the window, the right password included (this address has also
        # spent its 30 attempts a minute by now).
        for _ in range(6):
            await client.post("/api/v1/auth/login", json={"username": username, "password": "still-wrong"})
        right = await client.post("/api/v1/auth/login", json={"username": username, "password": f"password-{username}"})
        assert right.status == 429 and int(right.headers["Retry-After"]) > 1
        other = await client.post(
            "/api/v1/auth/login", json={"username": USERS[2][0], "password": f"password-{USERS[2][0]}"}
        )
        assert other.status in (200, 429)  # the address has spent its attempts too, or not: never a 5xx

    with_api(database_url, scenario)


def test_alerts_keep_flowing_through_a_real_gateway_while_fifty_guessers_sign_in(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto
) -> None:
    """50 concurrent wrong-password sign-ins, each from its own address, against a `wangge gateway` process
    while an edge publishes alerts: every alert is stored and confirmed, the flood is turned away with 429,
    and the gateway stays ready. (How long the alerts take is measured in bench/login_flood.py.)"""
    config = gateway_yaml(tmp_path, database_url, mosquitto.url)
    gateway, api = start_gateway(tmp_path, config)
    port = int(api.rsplit(":", 1)[1])
    edge = mqtt_publisher(mosquitto.url)
    confirmed: set[str] = set()
    edge.message_callback_add(
        "wangge/edge/estate-f/confirms", lambda c, u, m: confirmed.update(json.loads(m.payload)["stored"])
    )
    edge.subscribe("wangge/edge/estate-f/confirms", qos=1)
    statuses: list[int] = []

    def guess(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(f"127.0.0.{2 + i}", 0))
        for n in range(8):
            conn.request(
                "POST",
                "/api/v1/auth/login",
                body=json.dumps({"username": f"u{i}-{n}", "password": "x" * 12}),
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        conn.close()

    with running(gateway):
        guessers = [threading.Thread(target=guess, args=(i,)) for i in range(50)]
        for t in guessers:
            t.start()
        keys = []
        for i in range(40):
            message = alert(edge_id="estate-f", rule_id=f"flood-{i}", source={"kind": "sensor", "device_id": "g"})
            keys.append(f"{message['alert_id']}:0")
            edge.publish("wangge/edge/estate-f/alerts", json.dumps(message), qos=1).wait_for_publish(10)
            time.sleep(0.02)
        for t in guessers:
            t.join(60)
        wait_until(lambda: confirmed >= set(keys) or None, 30, "every alert confirmed")
        assert count(database_url, "SELECT count(*) FROM alerts WHERE edge_id = 'estate-f'") == 40
        assert len(statuses) == 400 and set(statuses) <= {401, 429}
        assert statuses.count(429) >= 300, statuses.count(429)  # the check budget turns most away
        assert http_json(api + "/readyz")[0] == 200
        assert metric_value(http_text(api + "/metrics"), "wangge_gateway_logins_throttled_total") >= 300
    edge.loop_stop()
    edge.disconnect()
