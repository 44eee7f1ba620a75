"""Keyset pages: a query asks for one row more than the page, and the extra row says whether another follows."""

from __future__ import annotations

from typing import Any


def keyset_page(rows: list[Any], limit: int, key: str) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` rows, and the `key` of the last one when there is a next page."""
    return [dict(r) for r in rows[:limit]], str(rows[limit - 1][key]) if len(rows) > limit else None
