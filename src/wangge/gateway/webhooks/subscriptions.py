"""Creating a subscription, shared by the API and `wangge admin add-webhook`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from wangge.gateway.webhooks import formats
from wangge.gateway.webhooks.destinations import check_url

if TYPE_CHECKING:
    from wangge.gateway.db import Conn


class SubscriptionError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=2000)
    format: Literal["standard", "dingtalk", "wecom", "feishu"] = "standard"
    secret: str | None = Field(default=None, max_length=400)
    region: str | None = Field(default=None, max_length=32, description="a region code: its subtree")
    categories: list[str] = Field(default_factory=list, max_length=100)
    severities: list[Literal["info", "minor", "major", "critical"]] = Field(default_factory=list)
    event_types: list[Literal[formats.EVENT_TYPES]] = Field(default_factory=list)  # type: ignore[valid-type]
    enabled: bool = True
    rate_per_min: int | None = Field(default=None, ge=1, le=10000)


async def create(conn: Conn, data: SubscriptionIn, region_path: str, created_by: str) -> tuple[int, str | None]:
    """Store a subscription; returns its id and its secret (generated when none was given)."""
    problem = check_url(data.url)
    if problem:
        raise SubscriptionError("url", problem)
    secret = data.secret or (formats.new_secret(data.format) if data.format != "wecom" else None)
    if data.format == "standard" and secret and not secret.startswith("whsec_"):
        raise SubscriptionError("secret", "a standard webhook secret is whsec_<base64>")
    rate = data.rate_per_min or formats.DEFAULT_RATE_PER_MIN.get(data.format)
    sub_id: int = await conn.fetchval(
        "INSERT INTO webhook_subscriptions (name, url, format, secret, region_path, categories, severities,"
        " event_types, enabled, rate_per_min, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " RETURNING id",
        data.name,
        data.url,
        data.format,
        secret,
        region_path,
        data.categories,
        list(data.severities),
        list(data.event_types),
        data.enabled,
        rate,
        created_by,
    )
    return sub_id, secret
