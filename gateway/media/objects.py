"""Putting media into the object store so that a row and its object never part: an intent row in
`media_garbage` is written before the upload and removed in the transaction that stores the attachment, so an
upload whose row never committed is swept; a deleted row hands its key to the same sweep.

Bytes still in PostgreSQL (a photo taken while the store was down, rows from before migration 0017) are moved
out by `offload`, which reads every object back and compares its sha256 before it lets go of the bytes.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from wangge.gateway import metrics
from wangge.gateway.media.store import MediaMissing, MediaUnavailable, ObjectStore

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

log = logging.getLogger(__name__)
SWEEP_GRACE = timedelta(minutes=10)  # an intent younger than this may belong to an upload still in flight
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "video/mp4": ".mp4"}


def new_key(kind: str, content_type: str) -> str:
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    return f"{kind}/{day}/{uuid.uuid4().hex}{EXTENSIONS.get(content_type, '')}"


@dataclass
class Media:
    """The gateway's object store and the rules for writing to it."""

    store: ObjectStore
    pool: asyncpg.Pool

    async def upload(self, kind: str, data: bytes, content_type: str) -> str:
        """Upload with an intent committed first (on a connection of its own, so the caller's transaction rolling
        back cannot take it along); the caller stores the key in a row and calls `adopted` in the transaction
        that does. MediaUnavailable when the store is down."""
        key = new_key(kind, content_type)
        await self.pool.execute("INSERT INTO media_garbage (object_key) VALUES ($1)", key)
        await self.store.put(key, data, content_type)
        metrics.MEDIA_STORED.labels(kind).inc()
        return key

    @staticmethod
    async def adopted(conn: Conn, key: str) -> None:
        await conn.execute("DELETE FROM media_garbage WHERE object_key = $1", key)

    @staticmethod
    async def discard(conn: Conn, key: str | None) -> None:
        """The object of a row that is going away or being replaced (deleted after the commit)."""
        if key is not None:
            await conn.execute(
                "INSERT INTO media_garbage (object_key, since) VALUES ($1, now() - $2::interval)"
                " ON CONFLICT (object_key) DO NOTHING",
                key,
                SWEEP_GRACE,
            )


async def sweep_garbage(conn: Conn, store: ObjectStore, limit: int = 1000) -> int:
    """Delete objects no row holds any more; keys of a failed try stay for the next pass. Ages are the
    database's own clock, as `since` is."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT g.object_key FROM media_garbage g WHERE g.since < now() - $1::interval"
            " AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.object_key = g.object_key)"
            " ORDER BY g.since LIMIT $2 FOR UPDATE SKIP LOCKED",
            SWEEP_GRACE,
            limit,
        )
        keys = [r["object_key"] for r in rows]
        if not keys:
            return 0
        try:
            await store.delete(keys)
        except MediaUnavailable as exc:
            await conn.execute("UPDATE media_garbage SET tries = tries + 1 WHERE object_key = ANY ($1)", keys)
            log.warning("%d objects wait to be deleted: %s", len(keys), exc)
            return 0
        await conn.execute("DELETE FROM media_garbage WHERE object_key = ANY ($1)", keys)
    return len(keys)


@dataclass
class OffloadReport:
    moved: int = 0
    mismatched: list[int] = field(default_factory=list)
    left: int = 0


async def offload(conn: Conn, store: ObjectStore, batch: int = 50, limit: int | None = None) -> OffloadReport:
    """Move attachments whose bytes are in PostgreSQL into the store, one committed batch at a time (so an
    interrupted run resumes where it stopped). Each object's key is fixed by its row id, so a retried batch
    overwrites its own objects instead of leaving copies; a read-back whose sha256 differs keeps the bytes."""
    report = OffloadReport()
    while limit is None or report.moved + len(report.mismatched) < limit:
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT id, kind, content_type, sha256, data FROM attachments WHERE data IS NOT NULL"
                " AND NOT (id = ANY ($2)) ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch,
                report.mismatched,
            )
            if not rows:
                break
            for row in rows:
                key = f"{row['kind']}/migrated/{row['id']}{EXTENSIONS.get(row['content_type'], '')}"
                await store.put(key, row["data"], row["content_type"])
                try:
                    back = await store.get(key)
                except MediaMissing:
                    back = b""
                if hashlib.sha256(back).digest() != bytes(row["sha256"]):
                    log.error("attachment %d: the stored copy does not match its sha256; bytes kept", row["id"])
                    report.mismatched.append(int(row["id"]))
                    await Media.discard(conn, key)  # the copy that does not match goes with the next sweep
                    continue
                await conn.execute("UPDATE attachments SET object_key = $2, data = NULL WHERE id = $1", row["id"], key)
                report.moved += 1
    report.left = int(await conn.fetchval("SELECT count(*) FROM attachments WHERE data IS NOT NULL"))
    metrics.MEDIA_STAGED.set(report.left)
    return report
