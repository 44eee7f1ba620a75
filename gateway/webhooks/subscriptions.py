"""Creating a subscription, shared by the API and `wangge admin add-webhook`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wangge.gateway.storage.paths import subtree
from wangge.gateway.webhooks import formats
from wangge.gateway.webhooks.destinations import check_url
from wangge.gateway.webhooks.sealing import SecretBox, masked_url

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


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


async def create(
    conn: Conn, box: SecretBox, data: SubscriptionIn, region_path: str, created_by: str
) -> tuple[int, str | None]:
    """Store a subscription, its URL and secret sealed; returns its id and its secret (generated when none was
    given), which is shown this once."""
    problem = check_url(data.url)
    if problem:
        raise SubscriptionError("url", problem)
    if problem := formats.check_secret(data.format, data.secret):
        raise SubscriptionError("secret", problem)
    secret = data.secret or (formats.new_secret(data.format) if data.format != "wecom" else None)
    rate = data.rate_per_min or formats.DEFAULT_RATE_PER_MIN.get(data.format)
    sub_id: int = await conn.fetchval(
        "INSERT INTO webhook_subscriptions (name, url, url_sealed, format, secret_sealed, region_path, categories,"
        " severities, event_types, enabled, rate_per_min, created_by, region_id) VALUES ($1, $2, $3, $4, $5, $6, $7,"
        " $8, $9, $10, $11, $12, (SELECT id FROM regions WHERE path = $6))"
        " RETURNING id",
        data.name,
        masked_url(data.url),
        box.seal(data.url),
        data.format,
        box.seal(secret) if secret else None,
        region_path,
        data.categories,
        list(data.severities),
        list(data.event_types),
        data.enabled,
        rate,
        created_by,
    )
    return sub_id, secret


SUBSCRIPTION_COLUMNS = (
    "s.id, s.name, s.url, s.format, s.region_path, s.categories, s.severities, s.event_types, s.enabled,"
    " s.disabled_reason, s.rate_per_min, s.failures_in_row, s.circuit_open_until, s.created_by, s.created_at"
)


async def get_in_scope(conn: Conn, sub_id: int, scope: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions s WHERE s.id = $1 AND s.region_path LIKE $2",
        sub_id,
        subtree(scope),
    )
    return None if row is None else dict(row)


async def list_in_scope(conn: Conn, scope: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions s WHERE s.region_path LIKE $1 ORDER BY s.id",
        subtree(scope),
    )
    return [dict(r) for r in rows]


async def update(conn: Conn, box: SecretBox, sub_id: int, changes: dict[str, Any]) -> None:
    """Change the named columns; re-enabling also closes the circuit and forgets the failures."""
    if not changes:
        return
    if "url" in changes:
        if problem := check_url(changes["url"]):
            raise SubscriptionError("url", problem)
        url = changes.pop("url")
        changes["url"], changes["url_sealed"] = masked_url(url), box.seal(url)
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(changes))
    extra = ", disabled_reason = NULL, failures_in_row = 0, circuit_open_until = NULL" if changes.get("enabled") else ""
    await conn.execute(
        f"UPDATE webhook_subscriptions SET {sets}{extra}, updated_at = now() WHERE id = $1",
        sub_id,
        *[list(v) if isinstance(v, list) else v for v in changes.values()],
    )


async def disable(conn: Conn, sub_id: int, by: str) -> None:
    """Disable for good (the delivery history stays); pending deliveries are cancelled."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1",
            sub_id,
            f"deleted by {by}",
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET state = 'cancelled', last_error = 'subscription deleted'"
            " WHERE subscription_id = $1 AND state = 'pending'",
            sub_id,
        )


async def seal_plaintext(conn: Conn, box: SecretBox) -> int:
    """Seal what was stored before secrets were sealed (run at start); returns how many rows changed."""
    rows = await conn.fetch(
        "SELECT id, url, secret FROM webhook_subscriptions WHERE url_sealed IS NULL OR secret IS NOT NULL"
    )
    async with conn.transaction():
        for r in rows:
            await conn.execute(
                "UPDATE webhook_subscriptions SET url = $2, url_sealed = $3,"
                " secret_sealed = coalesce($4, secret_sealed), secret = NULL WHERE id = $1",
                r["id"],
                masked_url(r["url"]),
                box.seal(r["url"]),
                box.seal(r["secret"]) if r["secret"] else None,
            )
    return len(rows)


async def reseal_all(conn: Conn, box: SecretBox) -> int:
    """Seal every URL and secret again with the first key (after `new-webhook-key`); returns the rows done."""
    rows = await conn.fetch(
        "SELECT id, url_sealed, secret_sealed, previous_secret_sealed FROM webhook_subscriptions"
        " WHERE url_sealed IS NOT NULL"
    )
    async with conn.transaction():
        for r in rows:
            await conn.execute(
                "UPDATE webhook_subscriptions SET url_sealed = $2, secret_sealed = $3, previous_secret_sealed = $4"
                " WHERE id = $1",
                r["id"],
                box.reseal(r["url_sealed"]),
                box.reseal(r["secret_sealed"]) if r["secret_sealed"] else None,
                box.reseal(r["previous_secret_sealed"]) if r["previous_secret_sealed"] else None,
            )
    return len(rows)


async def rotate_secret(conn: Conn, box: SecretBox, sub_id: int, now: datetime, overlap: timedelta) -> str:
    """A new signing secret, returned once. A standard webhook is signed with both for `overlap`, so the
    receiver can switch whenever it likes within it; a robot's secret (DingTalk, Feishu) is the vendor's, so it
    is replaced at once and must be changed on the robot at the same moment."""
    row = await conn.fetchrow("SELECT format, secret_sealed FROM webhook_subscriptions WHERE id = $1", sub_id)
    if row is None or row["format"] == "wecom":
        raise SubscriptionError("secret", "this subscription has no secret to rotate")
    secret = formats.new_secret(row["format"])
    overlapping = row["format"] == "standard" and row["secret_sealed"] is not None
    await conn.execute(
        "UPDATE webhook_subscriptions SET secret_sealed = $2, previous_secret_sealed = $3,"
        " previous_secret_until = $4, updated_at = $5 WHERE id = $1",
        sub_id,
        box.seal(secret),
        row["secret_sealed"] if overlapping else None,
        now + overlap if overlapping else None,
        now,
    )
    return secret
