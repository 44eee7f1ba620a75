"""Opaque page cursors: the sort key of the last row, handed out and read back."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from wangge.gateway.http.problems import ProblemError
from wangge.gateway.http.responses import jsonable


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
