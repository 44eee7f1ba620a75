"""Webhook deliveries in PostgreSQL: fan-out of outbox events, claiming due work, recording each attempt.

Every step is a short transaction that works for any number of gateway replicas: fan-out and claiming use
FOR UPDATE SKIP LOCKED, and a claimed delivery carries a lease, so a gateway killed mid-request leaves work
that another (or the restarted one) takes over when the lease runs out. A delivery keeps one message id
for all its attempts, so receivers can drop repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.storage.pages import keyset_page
from wangge.gateway.storage.paths import subtree
from wangge.gateway.webhooks.formats import Event
from wangge.gateway.webhooks.sealing import SecretBox

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

FAN_OUT_SQL = """
WITH ev AS (
    SELECT id, event_type, region_path, category, severity FROM outbox_events
    WHERE NOT fanned_out ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
), ins AS (
    INSERT INTO webhook_deliveries (subscription_id, event_id, message_id)
    SELECT s.id, ev.id, 'msg_' || ev.id || '_' || s.id
    FROM ev JOIN webhook_subscriptions s ON s.enabled
     AND starts_with(ev.region_path, s.region_path)
     -- a weekly report covers its own area: a district's subscription takes the district's, not each street's
     AND (ev.event_type <> 'report.weekly' OR ev.region_path = s.region_path)
     AND (cardinality(s.event_types) = 0 OR ev.event_type = ANY (s.event_types))
     AND (cardinality(s.severities) = 0 OR ev.severity = ANY (s.severities))
     AND (cardinality(s.categories) = 0 OR EXISTS (
          SELECT 1 FROM unnest(s.categories) c WHERE ev.category = c OR starts_with(ev.category, c || '.')))
    ON CONFLICT DO NOTHING
    RETURNING 1
)
-- By the primary key (= ANY of an array): a join here was planned as a scan of the whole outbox per pass.
-- set_config: this statement's own transaction commits without waiting for the disk (see fan_out).
UPDATE outbox_events SET fanned_out = true
WHERE id = ANY (ARRAY(SELECT id FROM ev)) AND set_config('synchronous_commit', 'off', true) = 'off'
RETURNING (SELECT count(*) FROM ins)
"""

CLAIM_SQL = """
UPDATE webhook_deliveries d SET state = 'delivering', lease_until = $1 + $3 * interval '1 second',
       attempts = d.attempts + 1
WHERE d.id = ANY (ARRAY(
    SELECT d2.id FROM webhook_deliveries d2 JOIN webhook_subscriptions s ON s.id = d2.subscription_id
    WHERE ((d2.state = 'pending' AND d2.next_attempt_at <= $1) OR (d2.state = 'delivering' AND d2.lease_until < $1))
      AND s.enabled AND (s.circuit_open_until IS NULL OR s.circuit_open_until <= $1)
      AND (s.rate_per_min IS NULL OR (SELECT count(*) FROM webhook_attempts a
                                      WHERE a.subscription_id = s.id AND a.at > $1 - interval '1 minute')
                                     < s.rate_per_min)
    ORDER BY d2.next_attempt_at, d2.id LIMIT $2 FOR UPDATE OF d2 SKIP LOCKED))
RETURNING d.id, d.subscription_id, d.event_id, d.message_id, d.attempts
"""


@dataclass(frozen=True)
class Claimed:
    id: int
    subscription_id: int
    event_id: int
    message_id: str
    attempts: int


@dataclass(frozen=True)
class Subscription:
    id: int
    url: str
    format: str
    secret: str | None
    failures_in_row: int
    previous_secret: str | None = None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    latency_ms: float
    error: str | None = None
    excerpt: str | None = None
    retry_after_s: float | None = None
    gone: bool = False


FAN_OUT_BATCH = 500


async def fan_out(conn: Conn, batch: int = FAN_OUT_BATCH) -> tuple[int, int]:
    """Turn new outbox events into deliveries for every matching subscription; returns (events handled,
    deliveries made).

    Committed without waiting for the disk: a pass lost in a crash is done again (the events are still
    unmarked, and a delivery is unique per subscription and event), and ingest's commits, which must wait,
    do not queue behind one flush per pass."""
    rows = await conn.fetch(FAN_OUT_SQL, batch)  # one statement, its own transaction: one round trip
    return len(rows), int(rows[0][0]) if rows else 0


async def claim(conn: Conn, now: datetime, limit: int, lease_s: float) -> list[Claimed]:
    async with conn.transaction():
        rows = await conn.fetch(CLAIM_SQL, now, limit, lease_s)
    return [Claimed(r["id"], r["subscription_id"], r["event_id"], r["message_id"], r["attempts"]) for r in rows]


RENEW_SQL = """
UPDATE webhook_deliveries d SET lease_until = $3::timestamptz + $4::float8 * interval '1 second'
FROM unnest($1::bigint[], $2::integer[]) AS c(id, attempts)
WHERE d.id = c.id AND d.attempts = c.attempts AND d.state = 'delivering'
RETURNING d.id
"""


async def renew(conn: Conn, claimed: list[Claimed], now: datetime, lease_s: float) -> set[int]:
    """Extend the leases of deliveries this replica still holds; returns the ids it still holds (a claim is
    its delivery id and attempt number: one that ran out and was claimed again is someone else's)."""
    rows = await conn.fetch(RENEW_SQL, [c.id for c in claimed], [c.attempts for c in claimed], now, lease_s)
    return {r["id"] for r in rows}


async def subscriptions(conn: Conn, box: SecretBox, ids: list[int], now: datetime) -> dict[int, Subscription]:
    """The subscriptions with their URLs and secrets unsealed (SealError when a key is missing), and the
    previous secret while a rotation overlaps."""
    rows = await conn.fetch(
        "SELECT id, url_sealed, format, secret_sealed, failures_in_row,"
        " CASE WHEN previous_secret_until > $2 THEN previous_secret_sealed END AS previous FROM webhook_subscriptions"
        " WHERE id = ANY($1::bigint[])",
        ids,
        now,
    )
    return {
        r["id"]: Subscription(
            r["id"],
            box.unseal(r["url_sealed"]),
            r["format"],
            box.unseal(r["secret_sealed"]) if r["secret_sealed"] else None,
            r["failures_in_row"],
            box.unseal(r["previous"]) if r["previous"] else None,
        )
        for r in rows
    }


async def events(conn: Conn, ids: list[int]) -> dict[int, Event]:
    rows = await conn.fetch(
        "SELECT id, event_type, created_at, payload FROM outbox_events WHERE id = ANY($1::bigint[])", ids
    )
    return {r["id"]: Event(r["id"], r["event_type"], r["created_at"].isoformat(), dict(r["payload"])) for r in rows}


async def release(conn: Conn, delivery_ids: list[int]) -> None:
    """Give claimed deliveries back untouched (the attempt did not happen)."""
    await conn.execute(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = attempts - 1, lease_until = NULL"
        " WHERE id = ANY($1::bigint[]) AND state = 'delivering'",
        delivery_ids,
    )


def next_delay(attempts: int, schedule: list[float], retry_after_s: float | None) -> float | None:
    """Seconds until the next attempt after `attempts` failures, or None when the schedule is used up."""
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1]
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, 24 * 3600.0))
    return delay


async def record(
    conn: Conn,
    sub: Subscription,
    claimed: list[Claimed],
    outcome: Outcome,
    now: datetime,
    schedule: list[float],
    breaker_failures: int,
    breaker_open_s: float,
) -> str:
    """Log the attempt and move the deliveries on; returns what happened: delivered, retry, dead or gone.

    A failure moves only deliveries still held by this claim (same attempt number, still delivering): one
    whose lease ran out may meanwhile have been delivered by another replica, and must not be sent again."""
    ids = [c.id for c in claimed]
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO webhook_attempts (delivery_ids, subscription_id, at, status, latency_ms, error,"
            " response_excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            ids,
            sub.id,
            now,
            outcome.status,
            outcome.latency_ms,
            outcome.error,
            outcome.excerpt,
        )
        if outcome.ok:
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $2, last_status = $3,"
                " last_error = NULL, lease_until = NULL WHERE id = ANY($1::bigint[])",
                ids,
                now,
                outcome.status,
            )
            await conn.execute(
                "UPDATE webhook_subscriptions SET failures_in_row = 0, circuit_open_until = NULL WHERE id = $1", sub.id
            )
            return "delivered"
        if outcome.gone:
            # The receiver answered 410, or the subscription cannot be used at all (a secret that does not
            # decode): retrying would change nothing, so it is disabled and its deliveries end here.
            reason = outcome.error or "410 Gone"
            await conn.execute(
                "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, updated_at = $3 WHERE id = $1",
                sub.id,
                reason if outcome.status is None else "the receiver answered 410 Gone",
                now,
            )
            await conn.execute(
                "UPDATE webhook_deliveries d SET state = 'dead', last_status = $3, last_error = $4,"
                " lease_until = NULL FROM unnest($1::bigint[], $2::integer[]) AS c(id, attempts)"
                " WHERE d.id = c.id AND d.attempts = c.attempts AND d.state = 'delivering'",
                ids,
                [c.attempts for c in claimed],
                outcome.status,
                reason,
            )
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'cancelled', last_error = 'subscription disabled'"
                " WHERE subscription_id = $1 AND state = 'pending'",
                sub.id,
            )
            return "gone"
        failures = await conn.fetchval(
            "UPDATE webhook_subscriptions SET failures_in_row = failures_in_row + 1 WHERE id = $1"
            " RETURNING failures_in_row",
            sub.id,
        )
        if failures >= breaker_failures:
            await conn.execute(
                "UPDATE webhook_subscriptions SET circuit_open_until = $2 WHERE id = $1",
                sub.id,
                now + timedelta(seconds=breaker_open_s),
            )
        result = "retry"
        for c in claimed:
            delay = next_delay(c.attempts, schedule, outcome.retry_after_s)
            if delay is None:
                result = "dead"
                await conn.execute(
                    "UPDATE webhook_deliveries d SET state = 'dead', last_status = $3, last_error = $4,"
                    " lease_until = NULL WHERE d.id = $1 AND d.attempts = $2 AND d.state = 'delivering'",
                    c.id,
                    c.attempts,
                    outcome.status,
                    outcome.error,
                )
            else:
                await conn.execute(
                    "UPDATE webhook_deliveries d SET state = 'pending', next_attempt_at = $3, last_status = $4,"
                    " last_error = $5, lease_until = NULL"
                    " WHERE d.id = $1 AND d.attempts = $2 AND d.state = 'delivering'",
                    c.id,
                    c.attempts,
                    now + timedelta(seconds=delay),
                    outcome.status,
                    outcome.error,
                )
        return result


async def replay(conn: Conn, delivery_id: int, now: datetime) -> Any:
    """Send a dead (or cancelled) delivery again, with a fresh schedule and the same message id."""
    return await conn.fetchrow(
        "UPDATE webhook_deliveries d SET state = 'pending', attempts = 0, next_attempt_at = $2, last_error = NULL"
        " FROM webhook_subscriptions s WHERE d.id = $1 AND s.id = d.subscription_id AND s.enabled"
        " AND d.state IN ('dead', 'cancelled') RETURNING d.id, d.state",
        delivery_id,
        now,
    )


async def list_deliveries(
    conn: Conn, scope: str, states: list[str], subscription: int, before_id: int, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Deliveries of the subscriptions in `scope`, newest first, before the id `before_id` (0: the newest)."""
    rows = await conn.fetch(
        "SELECT d.id, d.subscription_id, d.event_id, e.event_type, d.message_id, d.state, d.attempts,"
        " d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at"
        " FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id"
        " JOIN outbox_events e ON e.id = d.event_id WHERE s.region_path LIKE $1"
        " AND (cardinality($2::text[]) = 0 OR d.state = ANY($2)) AND ($3 = 0 OR d.subscription_id = $3)"
        " AND ($4 = 0 OR d.id < $4) ORDER BY d.id DESC LIMIT $5",
        subtree(scope),
        states,
        subscription,
        before_id,
        limit + 1,
    )
    return keyset_page(list(rows), limit, "id")


async def delivery_in_scope(conn: Conn, delivery_id: int, scope: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id"
        " WHERE d.id = $1 AND s.region_path LIKE $2",
        delivery_id,
        subtree(scope),
    )
    return bool(found)


async def attempts(conn: Conn, delivery_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, at, status, latency_ms, error, response_excerpt, cardinality(delivery_ids) AS merged"
        " FROM webhook_attempts WHERE $1 = ANY(delivery_ids) ORDER BY id",
        delivery_id,
    )
    return [dict(r) for r in rows]
