"""A caller as every concern sees it: a signed-in user with a role and a region subtree, or an edge box."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Role = Literal["admin", "supervisor", "operator", "grid_worker"]
ROLES: tuple[Role, ...] = ("admin", "supervisor", "operator", "grid_worker")


@dataclass(frozen=True)
class Principal:
    """A signed-in user, or an edge box. `scope` is the region path prefix it may see ('/' = all)."""

    name: str
    role: Role | None
    scope: str
    user_id: int | None = None
    edge_id: str | None = None
    token_id: int | None = None
    token_expires_at: datetime | None = None

    @property
    def is_edge(self) -> bool:
        return self.edge_id is not None
