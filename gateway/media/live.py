"""Live view: a viewer's session with one camera, pushed by its edge as HLS into the object store.

The edge sits behind NAT with an outbound uplink only, so the gateway asks it over MQTT
(`wangge/edge/<id>/commands`) to start; the edge's ffmpeg copies the stream (no encode) to HLS and PUTs the
playlist and segments to the gateway over HTTPS with its own token; the gateway keeps them in the object store
under `live/<session>/`, so whichever replica a viewer's request reaches can serve it. The session lives while its
viewer fetches the playlist: the gateway renews the edge's lease while someone watches and ends the session
(stop command, objects deleted, the view in the audit log with its from and to) after `idle_s` without a viewer.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway import metrics
from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.media.config import LiveConfig
from wangge.gateway.media.store import MediaUnavailable, ObjectStore
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

log = logging.getLogger(__name__)
LEASE_S = 60.0  # what the edge is told; renewed every pass while watched
TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
}

Publish = Callable[[str, bytes], bool]  # MQTT publish at QoS 1; False when the broker is not connected


def commands_topic(edge_id: str) -> str:
    return f"wangge/edge/{edge_id}/commands"


def command(kind: str, session: uuid.UUID, camera: str, edge_id: str, now: datetime) -> bytes:
    """What the edge is told. The push path is relative: the edge prepends the gateway URL of its own config, so a
    command can never send a camera's stream somewhere else."""
    body = {
        "v": 1,
        "command": kind,
        "session": str(session),
        "camera": camera,
        "push_path": f"/api/v1/edges/{edge_id}/live/{session}/",
        "lease_s": LEASE_S,
        "issued_at": now.isoformat(),
    }
    return json.dumps(body).encode()


def content_type(name: str) -> str:
    return TYPES[name[name.rindex(".") :]]


@dataclass(frozen=True)
class Session:
    id: uuid.UUID
    edge_id: str
    camera_id: str


async def start_session(
    conn: Conn, principal: Principal, camera_id: str, config: LiveConfig, remote: str | None, now: datetime
) -> Session:
    """A new session for a camera in the caller's area; 404 outside it, 409 when the camera is offline, 429 when
    its edge already streams as many as its uplink budget allows."""
    camera = await conn.fetchrow(
        "SELECT d.device_id, d.edge_id,"
        " CASE WHEN e.state IS DISTINCT FROM 'online' THEN coalesce(e.state, 'unknown')"
        " ELSE coalesce(e.status -> 'devices' -> d.device_id ->> 'state', 'online') END AS state"
        " FROM devices d LEFT JOIN regions r ON r.id = d.region_id LEFT JOIN edges e ON e.edge_id = d.edge_id"
        " WHERE d.device_id = $1 AND d.kind = 'camera' AND coalesce(r.path, '/') LIKE $2",
        camera_id,
        subtree(principal.scope),
    )
    if camera is None or camera["edge_id"] is None:
        raise CaseError(404, f"no camera {camera_id!r} in your area")
    if camera["state"] not in ("online", "degraded"):
        metrics.LIVE_STARTED.labels("offline").inc()
        raise CaseError(409, f"camera {camera_id} is {camera['state']}: no live view now", state=camera["state"])
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('live:' || $1))", camera["edge_id"])
        running = await conn.fetchval(
            "SELECT count(*) FROM live_sessions WHERE edge_id = $1 AND ended_at IS NULL", camera["edge_id"]
        )
        if running >= config.max_sessions_per_edge:
            metrics.LIVE_STARTED.labels("busy").inc()
            raise CaseError(
                429,
                f"edge {camera['edge_id']} already streams {running} live views (its uplink budget); try later",
                retry_after=15,
            )
        session = Session(uuid.uuid4(), camera["edge_id"], camera_id)
        await conn.execute(
            "INSERT INTO live_sessions (id, edge_id, camera_id, username, remote, started_at, last_viewed_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6)",
            session.id,
            session.edge_id,
            camera_id,
            principal.name,
            remote,
            now,
        )
        await audit(conn, principal.name, "live.start", f"camera:{camera_id}", remote, {"session": str(session.id)})
    metrics.LIVE_STARTED.labels("started").inc()
    return session


async def viewer_session(conn: Conn, principal: Principal, session_id: uuid.UUID) -> Any:
    """The caller's own session (a live view is one person's); 404 for anyone else's."""
    row = await conn.fetchrow("SELECT * FROM live_sessions WHERE id = $1 AND username = $2", session_id, principal.name)
    if row is None:
        raise CaseError(404, f"no live session {session_id} of yours")
    return row


async def watched(conn: Conn, session_id: uuid.UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE live_sessions SET last_viewed_at = $2 WHERE id = $1 AND ended_at IS NULL", session_id, now
    )


async def store_pushed(
    conn: Conn, store: ObjectStore, edge_id: str, session_id: uuid.UUID, name: str, data: bytes, now: datetime
) -> None:
    """One playlist or segment from the edge; 410 once the session is over (its ffmpeg then gives up)."""
    running = await conn.fetchval(
        "SELECT ended_at IS NULL FROM live_sessions WHERE id = $1 AND edge_id = $2", session_id, edge_id
    )
    if running is None:
        raise CaseError(404, f"no live session {session_id} for edge {edge_id}")
    if not running:
        raise CaseError(410, f"live session {session_id} has ended")
    try:
        await store.put(f"live/{session_id}/{name}", data, content_type(name))
    except MediaUnavailable as exc:
        raise CaseError(503, f"the object store does not take the stream now: {exc}", retry_after=2) from None
    metrics.MEDIA_STORED.labels("live").inc()
    await conn.execute(
        "UPDATE live_sessions SET last_pushed_at = $2, pushed_bytes = pushed_bytes + $3,"
        " first_segment_at = coalesce(first_segment_at, CASE WHEN $4::boolean THEN $2::timestamptz END) WHERE id = $1",
        session_id,
        now,
        len(data),
        name == "index.m3u8",
    )


async def end_session(
    conn: Conn, store: ObjectStore, session_id: uuid.UUID, reason: str, now: datetime, publish: Publish
) -> bool:
    """End a running session: the edge told to stop, its objects deleted, the view audited (who, camera, from,
    to). False when it had already ended."""
    row = await conn.fetchrow(
        "UPDATE live_sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL RETURNING *",
        session_id,
        now,
        reason,
    )
    if row is None:
        return False
    publish(commands_topic(row["edge_id"]), command("live.stop", session_id, row["camera_id"], row["edge_id"], now))
    await audit(
        conn,
        row["username"],
        "live.view",
        f"camera:{row['camera_id']}",
        row["remote"],
        {
            "session": str(session_id),
            "from": row["started_at"].isoformat(),
            "to": now.isoformat(),
            "first_frame_at": row["first_segment_at"].isoformat() if row["first_segment_at"] else None,
            "bytes": row["pushed_bytes"],
            "ended_because": reason,
        },
    )
    try:
        await store.delete(await store.keys(f"live/{session_id}/"))
    except MediaUnavailable as exc:
        log.warning("live session %s: its segments stay until the next pass (%s)", session_id, exc)
    return True


async def live_pass(conn: Conn, store: ObjectStore, config: LiveConfig, now: datetime, publish: Publish) -> int:
    """Renew the lease of every watched session, end the idle and the never-started ones; returns how many run."""
    rows = await conn.fetch("SELECT * FROM live_sessions WHERE ended_at IS NULL")
    running = 0
    for row in rows:
        idle = (now - row["last_viewed_at"]).total_seconds()
        started = (now - row["started_at"]).total_seconds()
        if idle > config.idle_s:
            await end_session(conn, store, row["id"], "idle", now, publish)
        elif row["first_segment_at"] is None and started > config.start_timeout_s:
            metrics.LIVE_STARTED.labels("failed").inc()
            await end_session(conn, store, row["id"], "no_stream", now, publish)
        else:
            publish(
                commands_topic(row["edge_id"]), command("live.keep", row["id"], row["camera_id"], row["edge_id"], now)
            )
            running += 1
    for row in await conn.fetch(
        "SELECT id FROM live_sessions WHERE ended_at BETWEEN $1::timestamptz - interval '5 minutes'"
        " AND $1::timestamptz - interval '30 seconds'",
        now,
    ):  # objects a failed delete, or a segment pushed as the session ended, left behind
        keys = await store.keys(f"live/{row['id']}/")
        if keys:
            await store.delete(keys)
    metrics.LIVE_SESSIONS.set(running)
    return running
