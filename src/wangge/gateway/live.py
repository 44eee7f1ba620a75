"""The console's live feed: outbox events as Server-Sent Events, limited to the caller's region subtree.

Every change to a ticket already writes an `outbox_events` row in its own transaction (for webhooks), so the
feed reads that table: the event id is the SSE id, and a client that reconnects with `Last-Event-ID` is sent
everything after it. One LISTEN connection per gateway wakes all open streams; a poll every few seconds covers a
lost notification or a database restart.

Ids come from a sequence, so a transaction that took a lower id may commit after a higher one was sent. Each
stream remembers the ids it skipped over and asks for them again for `GAP_WAIT_S` before giving up on them
(a rolled-back transaction leaves a gap forever); a resumed stream also looks back `RESUME_LOOKBACK` ids, and
the client drops ids it has already shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from wangge.gateway import metrics
from wangge.gateway.appkeys import CLOCK, POOL, principal_of
from wangge.gateway.auth import Principal, principal_for
from wangge.gateway.http_util import jsonable
from wangge.gateway.problems import ProblemError

log = logging.getLogger(__name__)

POLL_S = 3.0
HEARTBEAT_S = 15.0
RECHECK_TOKEN_S = 60.0
GAP_WAIT_S = 30.0
RESUME_LOOKBACK = 50
BATCH = 500
CHANNEL = "wangge_outbox"


class OutboxSignal:
    """Wakes every waiting stream when PostgreSQL notifies that outbox events committed."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._changed = asyncio.Event()
        self.closing = asyncio.Event()

    def _notify(self, *_: object) -> None:
        """Release everyone waiting now; later waiters wait for the next notification."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, timeout: float) -> None:
        """Until an event commits, the gateway shuts down, or `timeout` passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    async def run(self) -> None:
        """Hold one LISTEN connection; after a database restart, listen again."""
        while not self.closing.is_set():
            try:
                async with self._pool.acquire() as conn:
                    await conn.add_listener(CHANNEL, self._notify)
                    try:
                        while not conn.is_closed() and not self.closing.is_set():
                            await asyncio.sleep(1.0)
                    finally:
                        if not conn.is_closed():
                            await conn.remove_listener(CHANNEL, self._notify)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live feed listener lost the database (%s); polling until it is back", exc)
            await asyncio.sleep(1.0)

    def close(self) -> None:
        self.closing.set()
        self._notify()


SIGNAL = web.AppKey("outbox_signal", OutboxSignal)


async def signal_context(app: web.Application) -> AsyncIterator[None]:
    signal = OutboxSignal(app[POOL])
    app[SIGNAL] = signal
    task = asyncio.create_task(signal.run(), name="live-feed-listener")
    yield
    signal.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def close_streams(app: web.Application) -> None:
    """Open streams end at shutdown instead of holding the server for its whole grace period."""
    app[SIGNAL].close()


def _resume_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise ProblemError(
            400,
            "Bad Request",
            "Last-Event-ID must be an event id from this feed",
            invalid_params=[{"name": "last_event_id", "reason": "must be a whole number"}],
        )
    return int(raw)


def _frame(row: Any) -> bytes:
    data = {
        **row["payload"],  # the pool decodes jsonb
        "id": row["id"],
        "type": row["event_type"],
        "ticket_id": row["ticket_id"],
        "created_at": row["created_at"],
    }
    body = json.dumps(data, default=jsonable, ensure_ascii=False, separators=(",", ":"))
    return f"id: {row['id']}\nevent: {row['event_type']}\ndata: {body}\n\n".encode()


class _Cursor:
    """What one stream has sent: the highest id, and lower ids not yet seen that may still commit."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.gaps: dict[int, float] = {}

    def advance(self, ids: list[int]) -> None:
        now = time.monotonic()
        for i in ids:
            self.gaps.pop(i, None)
        top = max(ids, default=self.last)
        seen = set(ids)
        for missing in range(self.last + 1, top):
            if missing not in seen and top - missing < 10_000:
                self.gaps[missing] = now + GAP_WAIT_S
        self.last = max(self.last, top)
        for gap, until in list(self.gaps.items()):
            if until < now:
                del self.gaps[gap]


async def event_stream(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    pool: asyncpg.Pool = request.app[POOL]
    signal = request.app[SIGNAL]
    resume = _resume_id(request)
    if resume is None:
        start = await pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox_events")
        cursor = _Cursor(int(start))
    else:
        cursor = _Cursor(max(resume - RESUME_LOOKBACK, 0))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    now: datetime = request.app[CLOCK]()
    hello = json.dumps({"now": now.isoformat(), "last_event_id": cursor.last, "scope": principal.scope})
    await response.write(f"retry: 2000\nevent: hello\ndata: {hello}\n\n".encode())
    metrics.LIVE_STREAMS.inc()
    try:
        await _pump(request, response, principal, pool, signal, cursor)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        metrics.LIVE_STREAMS.dec()
    return response


async def _pump(
    request: web.Request,
    response: web.StreamResponse,
    principal: Principal,
    pool: asyncpg.Pool,
    signal: OutboxSignal,
    cursor: _Cursor,
) -> None:
    scope = principal.scope
    next_beat = time.monotonic() + HEARTBEAT_S
    next_token_check = time.monotonic() + RECHECK_TOKEN_S
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    while not signal.closing.is_set():
        try:
            rows = await pool.fetch(
                "SELECT id, created_at, event_type, ticket_id, region_path, payload FROM outbox_events"
                " WHERE id > $1 OR id = ANY($2::bigint[]) ORDER BY id LIMIT $3",
                cursor.last,
                list(cursor.gaps),
                BATCH,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("live feed cannot read events (%s); retrying", exc)
            rows = []
            await asyncio.sleep(POLL_S)
        cursor.advance([r["id"] for r in rows])
        sent = 0
        for row in rows:
            if row["region_path"].startswith(scope):
                await response.write(_frame(row))
                sent += 1
        if sent:
            metrics.LIVE_EVENTS_SENT.inc(sent)
        if len(rows) == BATCH:
            continue
        now = time.monotonic()
        if now >= next_beat:
            await response.write(b": keep-alive\n\n")
            next_beat = now + HEARTBEAT_S
        if now >= next_token_check:
            next_token_check = now + RECHECK_TOKEN_S
            if await principal_for(pool, token, request.app[CLOCK]()) is None:
                await response.write(b"event: signed-out\ndata: {}\n\n")
                return
        await signal.wait(min(POLL_S, max(next_beat - now, 0.05)))


def add_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(signal_context)
    app.on_shutdown.append(close_streams)
    app.router.add_get("/api/v1/events/stream", event_stream)
