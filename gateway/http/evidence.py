"""Evidence leaves the gateway one way: after its view is audited, never into a shared cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.evidence import record_view

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def evidence_response(
    conn: Conn, request: web.Request, principal: Principal, row: Any, attachment_id: int, **context: Any
) -> web.Response:
    await record_view(conn, principal, attachment_id, row["ticket_id"], request.remote, **context)
    return web.Response(
        body=row["data"], content_type=row["content_type"], headers={"Cache-Control": "private, no-store"}
    )
