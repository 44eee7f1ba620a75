"""Messages ingest refused, kept with the reason so an operator can see what an edge (or anyone) sent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.storage.pages import keyset_page

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

SHOWN_BYTES = 4096


async def list_dead_letters(
    conn: Conn, reason: str | None, before_id: int, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, before the id `before_id` (0: from the newest); each with the first 4 KiB of its payload."""
    rows = await conn.fetch(
        "SELECT id, received_at, source, reason, detail, payload FROM dead_letters WHERE ($2::text IS NULL OR"
        " reason = $2) AND ($3 = 0 OR id < $3) AND ($4::timestamptz IS NULL OR received_at >= $4)"
        " AND ($5::timestamptz IS NULL OR received_at < $5) ORDER BY id DESC LIMIT $1",
        limit + 1,
        reason,
        before_id,
        since,
        until,
    )
    items, after = keyset_page(list(rows), limit, "id")
    for item in items:
        raw: bytes = item.pop("payload")
        try:
            item["payload_text"] = raw[:SHOWN_BYTES].decode("utf-8")
        except UnicodeDecodeError:
            item["payload_base64"] = raw[:SHOWN_BYTES].hex()
        item["payload_bytes"] = len(raw)
    return items, after
