"""Every operation in the route table × every role outside an area × that area's objects: no data comes back and
nothing changes. Driven by the route table itself, so an endpoint added later is in the matrix (or fails the
test until it says how to call it)."""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from tests import images
from tests.gateway import world as w
from tests.gateway.cases.test_cases_api import Clock, open_ticket, run
from tests.test_alert_format import alert
from wangge.gateway.accounts.tokens import issue_token
from wangge.gateway.accounts.users import create_user
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.http.responses import XLSX
from wangge.gateway.http.routes import ALL
from wangge.gateway.webhooks import store

MARK = "MARKER-C1"
STREET_WEST = "990101002"
OUTSIDERS = {
    "c2-operator": None,
    "c2-worker": ("grid_worker", w.GRID_2),
    "west-supervisor": ("supervisor", STREET_WEST),
}
# Reached only by the resident's link, the broker's hook secret, or as a never-ending stream (tested elsewhere).
NOT_IN_MATRIX = {
    ("GET", "/api/v1/events/stream"),
    ("GET", "/api/v1/progress/{token}"),
    ("POST", "/api/v1/progress/{token}/rating"),
    ("POST", "/api/v1/auth/logout"),
}


def readable(body: bytes, content_type: str) -> str:
    """The answer as text to look for the area's marks in: a workbook's cells, anything else decoded."""
    if content_type == XLSX:
        sheet = load_workbook(io.BytesIO(body), read_only=True).active
        assert sheet is not None
        return "\n".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None)
    return body.decode("utf-8", "replace")  # images are not text either; a mark would still show


def bodies(objects: dict[str, Any]) -> dict[tuple[str, str], Any]:
    at = "2026-09-18T09:30:00Z"
    return {
        ("POST", "/api/v1/users"): {
            "username": "x-new",
            "password": "long-password-1",
            "role": "grid_worker",
            "region": w.GRID_1,
        },
        ("PATCH", "/api/v1/users/{username}"): {"disabled": True},
        ("POST", "/api/v1/users/{username}/password"): {"password": "another-password-1"},
        ("POST", "/api/v1/tickets/{id}/actions"): {"action": "comment", "note": "mine?"},
        ("POST", "/api/v1/tickets/{id}/merge"): {"source": objects["ticket"]},
        ("POST", "/api/v1/tickets/{id}/reports/{report_id}/split"): {},
        ("POST", "/api/v1/open311/keys"): {"name": "x", "region": w.COMMUNITY_1},
        ("DELETE", "/api/v1/open311/keys/{id}"): None,
        ("POST", "/api/v1/reports"): {
            "category": "public_facilities.manhole_cover",
            "text": "here",
            "lon": w.POINT_GRID_1[0],
            "lat": w.POINT_GRID_1[1],
        },
        ("POST", "/api/v1/root-causes"): {  # community 1's grid, where its ticket is
            "category": "emergencies.x",
            "place": "grid",
            "key": w.GRID_1,
            "since": "2026-09-01T00:00:00Z",
            "until": "2026-10-01T00:00:00Z",
        },
        ("POST", "/api/v1/webhooks/subscriptions"): {
            "name": "x",
            "url": "https://hooks.example.com/x",
            "region": w.COMMUNITY_1,
        },
        ("PATCH", "/api/v1/webhooks/subscriptions/{id}"): {"enabled": False},
        ("POST", "/api/v1/webhooks/deliveries/{id}/replay"): {},
        ("POST", "/api/v1/edges/{edge_id}/alerts"): alert(
            edge_id="demo-estate",
            alert_id=objects["alert_id"],
            seq=1,
            event="end",
            started_at=at,
            at=at,
            emitted_at=at,
            source={"kind": "sensor", "device_id": "underpass-gauge-1"},
        ),
        ("PUT", "/api/v1/edges/{edge_id}/alerts/{alert_id}/snapshot"): images.jpeg(shade=200),
        ("PUT", "/api/v1/edges/{edge_id}/alerts/{alert_id}/clips/{camera}/{part}"): b"\x00\x00\x00\x18ftypmp42",
        ("PUT", "/api/v1/edges/{edge_id}/live/{session}/{name}"): b"#EXTM3U\n",
        ("POST", "/api/v1/live/sessions"): {"camera": "plaza-cam"},  # community 1's camera (demo registry)
        ("DELETE", "/api/v1/live/{session}"): None,
        ("POST", "/api/v1/edges/{edge_id}/token"): None,
        ("DELETE", "/api/v1/tokens/{id}"): None,
        ("DELETE", "/api/v1/webhooks/subscriptions/{id}"): None,
        ("POST", "/api/v1/webhooks/subscriptions/{id}/secret"): None,
    }


def fill(path: str, o: dict[str, Any]) -> str:
    ids = {
        "/api/v1/tickets/": o["ticket"],
        "/api/v1/attachments/": o["attachment"],
        "/api/v1/tokens/": o["token_id"],
        "/api/v1/webhooks/subscriptions/": o["subscription"],
        "/api/v1/webhooks/deliveries/": o["delivery"],
        "/api/v1/open311/keys/": 1,
    }
    for prefix, value in ids.items():
        if path.startswith(prefix):
            path = path.replace("{id}", str(value))
    values = {
        "username": "marker-c1-op",
        "edge_id": "demo-estate",
        "alert_id": o["alert_id"],
        "device_id": "underpass-gauge-1",
        "report_id": 1,
        "camera": "underpass-cam",
        "part": 0,
        "session": "00000000-0000-4000-8000-000000000016",
        "name": "index.m3u8",
    }
    path = re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), path)
    assert "{" not in path, f"say how to reach {path} in test_scope_matrix.fill"
    return path


async def snapshot_of_area(pool: Any) -> list[Any]:
    """Everything of community 1 a caller from outside might change."""
    return [
        [dict(r) for r in await pool.fetch(q)]
        for q in (
            "SELECT id, state, updated_at, region_path, rating FROM tickets ORDER BY id",
            "SELECT count(*) FROM ticket_events",
            "SELECT id, sha256, size FROM attachments ORDER BY id",
            "SELECT username, role, region_id, disabled_at, password_hash FROM users ORDER BY id",
            "SELECT id, revoked_at, expires_at FROM api_tokens ORDER BY id",
            "SELECT id, name, url, enabled, region_path, secret_sealed FROM webhook_subscriptions ORDER BY id",
            "SELECT id, state, attempts FROM webhook_deliveries ORDER BY id",
            "SELECT id, ticket_id FROM ticket_reports ORDER BY id",
            "SELECT id, revoked_at FROM open311_keys ORDER BY id",
            "SELECT id, ended_at FROM live_sessions ORDER BY id",
        )
    ]


def test_no_operation_shows_or_changes_another_areas_objects(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock, rules: CaseRules) -> None:
        objects: dict[str, Any] = {"alert_id": str(uuid.uuid4())}
        objects["ticket"] = await open_ticket(
            pool, rules, clock.now, alert_id=objects["alert_id"], title=f"{MARK} water", category="emergencies.x"
        )
        tokens = dict(world.tokens)
        async with pool.acquire() as conn:
            marker = await create_user(conn, "marker-c1-op", "password-marker", "operator", w.COMMUNITY_1, MARK)
            await issue_token(conn, f"{MARK} session", user_id=marker)
            objects["token_id"] = await conn.fetchval("SELECT max(id) FROM api_tokens")
            for name, placed in OUTSIDERS.items():
                if placed is not None:
                    uid = await create_user(conn, name, "password-" + name, placed[0], placed[1])
                    tokens[name] = await issue_token(conn, name, user_id=uid)
            edge = await issue_token(conn, "box", edge_id="demo-estate")
        resp = await client.put(
            f"/api/v1/edges/demo-estate/alerts/{objects['alert_id']}/snapshot",
            data=images.jpeg(),
            headers={"Authorization": f"Bearer {edge}", "Content-Type": "image/jpeg"},
        )
        assert resp.status == 201
        objects["attachment"] = await pool.fetchval("SELECT max(id) FROM attachments")
        resp = await client.post(
            "/api/v1/webhooks/subscriptions",
            json={"name": MARK, "url": "https://hooks.example.com/c1", "region": w.COMMUNITY_1},
            headers=world.auth("admin"),
        )
        objects["subscription"] = (await resp.json())["id"]
        async with pool.acquire() as conn:
            await store.fan_out(conn)
        objects["delivery"] = await pool.fetchval("SELECT max(id) FROM webhook_deliveries")
        assert objects["delivery"] is not None
        before = await snapshot_of_area(pool)

        payloads = bodies(objects)
        checked = 0
        for table in ALL:
            for op in table.operations:
                if op.public or (op.method, op.path) in NOT_IN_MATRIX:
                    continue
                path = fill(op.path, objects)
                for who in OUTSIDERS:
                    headers = {"Authorization": f"Bearer {tokens[who]}"}
                    urls = [path] + ([f"{path}?region={w.COMMUNITY_1}"] if op.method == "GET" else [])
                    for url in urls:
                        kwargs: dict[str, Any] = {}
                        if op.method != "GET":
                            body = payloads[(op.method, op.path)]
                            if isinstance(body, bytes):
                                kwargs = {"data": body, "headers": {**headers, "Content-Type": "image/jpeg"}}
                            elif body is not None:
                                kwargs = {
                                    "data": json.dumps(body),
                                    "headers": {**headers, "Content-Type": "application/json"},
                                }
                        resp = await client.request(op.method, url, **({"headers": headers} | kwargs))
                        text = readable(await resp.read(), resp.content_type)
                        where = f"{who}: {op.method} {url} → {resp.status}"
                        assert MARK not in text and objects["alert_id"] not in text, where
                        if op.method != "GET":
                            assert resp.status in (400, 403, 404, 409, 422), f"{where}: {text[:200]}"
                        else:
                            assert resp.status < 500, where
                        checked += 1
        assert checked > 100
        assert await snapshot_of_area(pool) == before

    run(database_url, scenario)
