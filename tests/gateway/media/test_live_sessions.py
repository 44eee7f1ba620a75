"""Live-view sessions at the gateway, through the real app and PostgreSQL, with the MQTT publish recorded: what
the edge is told, who may start one, what an offline camera and a full uplink answer, and how a session ends."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.gateway import world as w
from tests.gateway.media.test_object_storage import edge_token
from wangge.gateway.http.context import CLOCK, MEDIA
from wangge.gateway.media.config import LiveConfig
from wangge.gateway.media.live import live_pass


class Commands:
    """The broker, as far as the gateway can tell: what it published, and whether it is connected."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.connected = True

    def __call__(self, topic: str, body: bytes) -> bool:
        if self.connected:
            self.sent.append((topic, json.loads(body)))
        return self.connected


async def camera_state(pool: Any, state: str) -> None:
    await pool.execute(
        "INSERT INTO edges (edge_id, state, last_seen, status) VALUES ('demo-estate', 'online', now(), $1)"
        " ON CONFLICT (edge_id) DO UPDATE SET state = 'online', status = EXCLUDED.status",
        {"devices": {"plaza-cam": {"kind": "camera", "state": state}}},
    )


def test_a_session_is_started_over_mqtt_refused_when_offline_or_full_and_ended_when_idle(database_url: str) -> None:
    commands = Commands()

    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        start = {"camera": "plaza-cam"}
        await camera_state(pool, "offline")
        resp = await client.post("/api/v1/live/sessions", json=start, headers=world.auth("c1-operator"))
        assert resp.status == 409 and "offline" in (await resp.json())["detail"]  # said at once, no spinner
        await camera_state(pool, "online")
        resp = await client.post("/api/v1/live/sessions", json=start, headers=world.auth("c2-operator"))
        assert resp.status == 404  # not in their area: no such camera
        assert commands.sent == []

        resp = await client.post("/api/v1/live/sessions", json=start, headers=world.auth("c1-operator"))
        assert resp.status == 201
        first = await resp.json()
        assert first["state"] == "starting" and first["playlist"] == f"/api/v1/live/{first['id']}/index.m3u8"
        [(topic, told)] = commands.sent
        assert topic == "wangge/edge/demo-estate/commands"
        assert told["command"] == "live.start" and told["camera"] == "plaza-cam" and told["session"] == first["id"]
        # The push path is relative: the edge puts its own configured gateway URL in front of it.
        assert told["push_path"] == f"/api/v1/edges/demo-estate/live/{first['id']}/"
        # Another person's session is not theirs to watch or stop.
        other = await client.get(first["playlist"], headers=world.auth("district-supervisor"))
        assert other.status == 404
        # Nothing pushed yet: the playlist is not there, and the session says it is starting.
        assert (await client.get(first["playlist"], headers=world.auth("c1-operator"))).status == 404

        # The edge pushes; the viewer gets what it pushed.
        box = {"Authorization": f"Bearer {await edge_token(pool)}"}
        playlist = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nseg-0.ts\n"
        push = f"/api/v1/edges/demo-estate/live/{first['id']}"
        assert (await client.put(f"{push}/seg-0.ts", data=b"\x47" * 188, headers=box)).status == 201
        assert (await client.put(f"{push}/index.m3u8", data=playlist, headers=box)).status == 201
        assert (await client.put(f"{push}/../../x", data=b"x", headers=box)).status in (400, 404)
        got = await client.get(first["playlist"], headers=world.auth("c1-operator"))
        assert got.status == 200 and await got.read() == playlist
        assert got.content_type == "application/vnd.apple.mpegurl"
        status = await (await client.get(f"/api/v1/live/{first['id']}", headers=world.auth("c1-operator"))).json()
        assert status["state"] == "playing"

        # The edge's uplink budget (2 by default): a third session is refused while two run.
        resp = await client.post("/api/v1/live/sessions", json=start, headers=world.auth("admin"))
        assert resp.status == 201
        resp = await client.post("/api/v1/live/sessions", json=start, headers=world.auth("district-supervisor"))
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0

        # The media pass renews the watched session's lease and ends the one nobody fetched for 60 s.
        now = client.server.app[CLOCK]()
        store = client.server.app[MEDIA].store
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE live_sessions SET last_viewed_at = $1 WHERE username = 'admin'", now - timedelta(seconds=61)
            )
            commands.sent.clear()
            running = await live_pass(conn, store, LiveConfig(), now, commands)
        assert running == 1
        kinds = sorted(c["command"] for _, c in commands.sent)
        assert kinds == ["live.keep", "live.stop"]
        # Closing the page ends it at once; the view is in the audit log with its from and to.
        assert (await client.delete(f"/api/v1/live/{first['id']}", headers=world.auth("c1-operator"))).status == 204
        gone = await client.get(first["playlist"], headers=world.auth("c1-operator"))
        assert gone.status == 410
        assert (await client.put(f"{push}/seg-1.ts", data=b"\x47" * 188, headers=box)).status == 410
        views = await pool.fetch("SELECT actor, data FROM audit_log WHERE kind = 'live.view' ORDER BY id")
        assert [(v["actor"], v["data"]["ended_because"]) for v in views] == [
            ("admin", "idle"),
            ("c1-operator", "closed"),
        ]
        assert all(v["data"]["from"] < v["data"]["to"] for v in views)
        assert await store.keys(f"live/{first['id']}/") == []  # its segments deleted with it

        # No broker: the session is not left waiting for an edge that was never asked.
        commands.connected = False
        resp = await client.post("/api/v1/live/sessions", json=start, headers=world.auth("c1-operator"))
        assert resp.status == 503
        assert await pool.fetchval("SELECT count(*) FROM live_sessions WHERE ended_at IS NULL") == 0

    w.run_api(database_url, scenario, publish=commands)
