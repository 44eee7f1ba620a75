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
import logging
import time
from typing import Any

import asyncpg

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


class FeedCursor:
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


async def start_cursor(pool: asyncpg.Pool, resume: int | None) -> FeedCursor:
    """Where a stream starts: after the newest event, or `RESUME_LOOKBACK` ids before the one it resumes from."""
    if resume is None:
        return FeedCursor(int(await pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox_events")))
    return FeedCursor(max(resume - RESUME_LOOKBACK, 0))


async def next_events(pool: asyncpg.Pool, cursor: FeedCursor, scope: str) -> tuple[list[Any], bool]:
    """Events after the cursor (and the gaps it still waits for) in the region subtree `scope`, oldest first;
    the flag says a whole batch was read, so more are waiting. A database error is logged and reads as none."""
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
        await asyncio.sleep(POLL_S)
        return [], False
    cursor.advance([r["id"] for r in rows])
    return [r for r in rows if r["region_path"].startswith(scope)], len(rows) == BATCH
