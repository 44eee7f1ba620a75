"""Health and readiness."""

from __future__ import annotations

from wangge.gateway.http.schemas.common import Out


class Ready(Out):
    status: str
    checks: dict[str, bool]
