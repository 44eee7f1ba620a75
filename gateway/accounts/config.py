"""The `accounts` section: how long edge tokens live and how long an old one overlaps its successor."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from wangge.configfile import StrictModel


class AccountsConfig(StrictModel):
    edge_token_days: float = Field(
        default=90, ge=1, le=3650, description="an edge token expires this long after it is issued"
    )
    edge_token_grace_h: float = Field(
        default=24, ge=0, le=24 * 30, description="after a rotation the edge's earlier tokens work this much longer"
    )

    password_checks_per_s: float = Field(
        default=2,
        gt=0,
        le=1000,
        description="sign-in password checks per second per replica (each ~80 ms of a core); more wait for 429",
    )

    @property
    def edge_token_lifetime(self) -> timedelta:
        return timedelta(days=self.edge_token_days)

    @property
    def edge_token_grace(self) -> timedelta:
        return timedelta(hours=self.edge_token_grace_h)
