"""The audit log: sign-ins, evidence views and other acts that must be answerable later."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def audit(
    conn: Conn, actor: str, kind: str, subject: str | None, remote: str | None, data: dict[str, Any] | None = None
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, kind, subject, remote, data) VALUES ($1, $2, $3, $4, $5)",
        actor,
        kind,
        subject,
        remote,
        data or {},
    )
