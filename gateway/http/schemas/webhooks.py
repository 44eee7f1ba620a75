"""Webhook subscriptions, their deliveries and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from wangge.gateway.http.inputs import BodyModel, CommaList, PathModel, QueryModel
from wangge.gateway.http.schemas.common import Out
from wangge.gateway.webhooks import formats


class IdPath(PathModel):
    id: int = Field(ge=0, le=10**18 - 1)


class SubscriptionPatch(BodyModel):
    """Only the fields to change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    enabled: bool | None = None
    categories: list[str] | None = None
    severities: list[Literal["info", "minor", "major", "critical"]] | None = None
    event_types: list[Literal[formats.EVENT_TYPES]] | None = None  # type: ignore[valid-type]


class Subscription(Out):
    id: int
    name: str
    url: str
    format: str
    region_path: str
    categories: list[str]
    severities: list[str]
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    rate_per_min: int | None
    failures_in_row: int
    circuit_open_until: datetime | None
    created_by: str
    created_at: datetime


class SubscriptionCreated(Subscription):
    secret: str | None = Field(description="shown this once")


class SecretRotated(Out):
    secret: str = Field(description="shown this once")
    previous_valid_until: datetime | None = Field(description="a standard webhook is signed with both until then")


class SubscriptionList(Out):
    items: list[Subscription]


class DeliveryQuery(QueryModel):
    state: CommaList[Literal["pending", "delivering", "delivered", "dead", "cancelled"]] = Field(default_factory=list)
    subscription: int = Field(default=0, ge=0, le=2**62)
    cursor: int = Field(default=0, ge=0, le=2**62)
    limit: int = Field(default=100, ge=1, le=1000)


class Delivery(Out):
    id: int
    subscription_id: int
    event_id: int
    event_type: str
    message_id: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(Out):
    items: list[Delivery]
    next_cursor: str | None


class Attempt(Out):
    id: int
    at: datetime
    status: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None
    merged: int


class AttemptList(Out):
    items: list[Attempt]


class Replayed(Out):
    id: int
    state: str
