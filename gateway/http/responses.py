"""JSON responses: the encoding every handler shares (times as ISO 8601, bytes as base64, the rest as text);
files to hand out (CSV, XLSX) as downloads."""

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


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"


def file_response(body: bytes, suffix: str, stem: str, now: datetime) -> web.Response:
    """A download named `stem-YYYYmmdd-HHMM.suffix` (csv: UTF-8 text; xlsx: a workbook), never cached."""
    name = f"{stem}-{now:%Y%m%d-%H%M}.{suffix}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    response = web.Response(body=body, content_type=CSV if suffix == "csv" else XLSX, headers=headers)
    if suffix == "csv":
        response.charset = "utf-8"
    return response
