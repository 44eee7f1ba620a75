"""Region paths ('/district/street/community/'): the one way a subtree is matched in SQL.

A caller's area, a webhook's region and a ticket's place are all paths; "inside" means "starts with". Queries
that compare with a parameter use `LIKE subtree(path)` (so the text_pattern_ops indexes serve them) and every
`%`, `_` and backslash in a path is literal there; queries that compare two columns use `starts_with()`.
"""

from __future__ import annotations


def subtree(path: str) -> str:
    """The LIKE pattern for `path` and everything under it."""
    return path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
