"""What handlers find on the application and the request: the pool, the case rules, the clock, the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import asyncpg
from aiohttp import web

from wangge.gateway.auth import Principal
from wangge.gateway.problems import ProblemError
from wangge.gateway.tickets import CaseRules

POOL = web.AppKey("pool", asyncpg.Pool)
RULES = web.AppKey("rules", CaseRules)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
READY_CHECKS: web.AppKey[dict[str, Callable[[], bool]]] = web.AppKey("ready_checks")


def principal_of(request: web.Request) -> Principal:
    principal = request.get("principal")
    if not isinstance(principal, Principal):
        raise ProblemError(401, "Unauthorized", "sign in first")
    return principal


def require_role(principal: Principal, roles: Iterable[str]) -> None:
    if principal.role is None or principal.role not in roles:
        raise ProblemError(403, "Forbidden", f"{principal.role or 'an edge'} may not do this")
