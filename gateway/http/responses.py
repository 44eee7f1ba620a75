"""JSON responses: the encoding every handler shares (times as ISO 8601, bytes as base64, the rest as text)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from aiohttp import web


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
