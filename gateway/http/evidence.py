"""Evidence leaves the gateway one way: after its view is audited, never into a shared cache.

Media is served through the gateway rather than by a presigned object-store URL: the audit log then records the
view that really happened (a presigned URL can be forwarded and replayed until it expires), and the object store
stays on the internal network. A video player's range requests are answered from the store by range; only a
request from the first byte counts as a new view, so seeking through a clip is one view, not a hundred."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.evidence import record_view
from wangge.gateway.http.context import media_of
from wangge.gateway.http.problems import ProblemError
from wangge.gateway.media.store import MediaMissing, MediaUnavailable

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `Range: bytes=` header within `size`; None for no or an unusable header
    (RFC 9110: a server may ignore a range it does not support and send the whole)."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.group(0) == "bytes=-":
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        first, last = max(0, size - int(last_text)), size - 1
    else:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        raise ProblemError(
            416, "Range Not Satisfiable", f"the object has {size} bytes", {"Content-Range": f"bytes */{size}"}
        )
    return first, last


async def evidence_response(
    conn: Conn, request: web.Request, principal: Principal, row: Any, attachment_id: int, **context: Any
) -> web.Response:
    size = int(row["size"])
    span = byte_range(request.headers.get("Range"), size)
    if span is None or span[0] == 0:
        await record_view(conn, principal, attachment_id, row["ticket_id"], request.remote, **context)
    headers = {"Cache-Control": "private, no-store", "Accept-Ranges": "bytes"}
    data = await media_bytes(request, row, attachment_id, span)
    if span is None:
        return web.Response(body=data, content_type=row["content_type"], headers=headers)
    headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
    return web.Response(body=data, status=206, content_type=row["content_type"], headers=headers)


async def media_bytes(request: web.Request, row: Any, attachment_id: int, span: tuple[int, int] | None = None) -> bytes:
    """An attachment's bytes (or a range), from PostgreSQL while staged there, else from the object store."""
    try:
        if row["object_key"] is None:
            data: bytes = row["data"]
            return data if span is None else data[span[0] : span[1] + 1]
        first, last = span or (None, None)
        return await media_of(request).store.get(row["object_key"], first, last)
    except MediaUnavailable as exc:
        raise ProblemError(
            503, "Service Unavailable", f"the object store does not answer: {exc}", {"Retry-After": "10"}
        ) from None
    except MediaMissing:
        raise ProblemError(410, "Gone", f"attachment {attachment_id}'s object is no longer in the store") from None
