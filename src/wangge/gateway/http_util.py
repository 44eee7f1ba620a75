"""Small pieces every handler uses: JSON responses, checked query parameters, opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from aiohttp import web

from wangge.gateway.problems import ProblemError


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, default=jsonable, ensure_ascii=False), status=status, content_type="application/json"
    )


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/415 problem saying what is wrong with it."""
    if request.content_type != "application/json":
        raise ProblemError(415, "Unsupported Media Type", "send Content-Type: application/json")
    try:
        body = await request.json()
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProblemError(400, "Bad Request", f"the body must be a JSON object, not {type(body).__name__}")
    return body


class Params:
    """Query parameters checked one by one; every bad one is reported, RFC 9457 `invalid_params` style."""

    def __init__(self, request: web.Request) -> None:
        self._query = request.query
        self.invalid: list[dict[str, str]] = []

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self._query.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            self.invalid.append({"name": name, "reason": f"must be a whole number from {low} to {high}"})
            return default
        return int(raw)

    def text(self, name: str, max_len: int = 200) -> str | None:
        raw = self._query.get(name)
        if raw is not None and len(raw) > max_len:
            self.invalid.append({"name": name, "reason": f"must be at most {max_len} characters"})
            return None
        return raw or None

    def choices(self, name: str, allowed: tuple[str, ...]) -> list[str]:
        raw = self.text(name)
        if raw is None:
            return []
        values = [v.strip() for v in raw.split(",") if v.strip()]
        bad = [v for v in values if v not in allowed]
        if bad:
            self.invalid.append({"name": name, "reason": f"unknown {bad}; allowed: {', '.join(allowed)}"})
            return []
        return values

    def timestamp(self, name: str) -> datetime | None:
        raw = self.text(name, 64)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            self.invalid.append({"name": name, "reason": "must be an ISO 8601 time with a zone"})
            return None
        return value

    def check(self) -> None:
        if self.invalid:
            raise ProblemError(400, "Bad Request", "some query parameters are invalid", invalid_params=self.invalid)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=jsonable).encode()).decode()


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The values of a cursor this API gave out, converted to `types` (a str is an ISO time or "infinity")."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        out = [kind(v) for kind, v in zip(types, values, strict=True)]
        for value in out:
            if isinstance(value, str) and value != "infinity":
                datetime.fromisoformat(value)
        return out
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            400,
            "Bad Request",
            "cursor is not one this API gave out",
            invalid_params=[{"name": "cursor", "reason": "malformed"}],
        ) from None


def path_int(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise ProblemError(400, "Bad Request", f"{name} must be a positive whole number, got {raw[:40]!r}")
    return int(raw)
