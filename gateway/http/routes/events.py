"""The live feed: outbox events in the caller's area as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from wangge.gateway import metrics
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.accounts.tokens import principal_for
from wangge.gateway.console.live import (
    HEARTBEAT_S,
    POLL_S,
    RECHECK_TOKEN_S,
    FeedCursor,
    OutboxSignal,
    next_events,
    start_cursor,
)
from wangge.gateway.http.context import CLOCK, POOL, SIGNAL, bearer_token, principal_of
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import jsonable
from wangge.gateway.http.schemas.events import StreamQuery
from wangge.gateway.http.spec import Reply, RouteTable

routes = RouteTable("events")


def _resume_id(request: web.Request, query: StreamQuery) -> int | None:
    raw = request.headers.get("Last-Event-ID")
    if raw is None or raw == "":
        return query.last_event_id
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


@routes.get(
    "/api/v1/events/stream",
    summary="Live feed (text/event-stream): outbox events in the caller's area; resume with Last-Event-ID",
    replies=Reply(200, "Server-Sent Events", media_type="text/event-stream"),
    query=StreamQuery,
)
async def event_stream(request: web.Request, query: StreamQuery) -> web.StreamResponse:
    principal = principal_of(request)
    cursor = await start_cursor(request.app[POOL], _resume_id(request, query))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    now = request.app[CLOCK]()
    hello = json.dumps({"now": now.isoformat(), "last_event_id": cursor.last, "scope": principal.scope})
    await response.write(f"retry: 2000\nevent: hello\ndata: {hello}\n\n".encode())
    metrics.LIVE_STREAMS.inc()
    try:
        await _pump(request, response, principal, request.app[SIGNAL], cursor)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        metrics.LIVE_STREAMS.dec()
    return response


async def _pump(
    request: web.Request, response: web.StreamResponse, principal: Principal, signal: OutboxSignal, cursor: FeedCursor
) -> None:
    pool = request.app[POOL]
    next_beat = time.monotonic() + HEARTBEAT_S
    next_token_check = time.monotonic() + RECHECK_TOKEN_S
    token = bearer_token(request)
    while not signal.closing.is_set():
        rows, more = await next_events(pool, cursor, principal.scope)
        for row in rows:
            await response.write(_frame(row))
        if rows:
            metrics.LIVE_EVENTS_SENT.inc(len(rows))
        if more:
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
