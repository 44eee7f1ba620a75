"""Tickets just opened (by alerts or a report) or reopened: their deadlines, route, handling region, 类案
recurrence and the open 治理专项 they belong to, and the events that announce them — a constant number of
statements for any number of tickets, so a batch of alerts that opens hundreds of tickets costs what one does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.cases.deadlines import stage_clock
from wangge.gateway.cases.events import Event, emit_many
from wangge.gateway.cases.nearby import METRES_PER_DEGREE, nearest_open_cases
from wangge.gateway.cases.rules import CaseRules, route
from wangge.gateway.metrics import INTAKE, INTAKE_DUPLICATES

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

# The community a grid's ticket is first handled by (or the region itself above that level); an alert's ticket
# sits where its device is (on the map, in the field worker's app). A reopened ticket only restarts its clock.
_START = """
WITH RECURSIVE u AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[],
                         $7::boolean[], $8::bigint[])
             AS u(id, stage, due_at, yellow_at, department, matter, fresh, region_id)
), up AS (
    SELECT r.id AS start, r.id, r.parent_id, r.level FROM regions r
    WHERE r.id IN (SELECT u.region_id FROM u WHERE u.fresh)
    UNION ALL
    SELECT up.start, r.id, r.parent_id, r.level FROM regions r JOIN up ON r.id = up.parent_id
), handling AS (
    SELECT DISTINCT ON (up.start) up.start, up.id FROM up WHERE up.level IN ('community', 'street', 'district')
    ORDER BY up.start, array_position(ARRAY['community', 'street', 'district'], up.level)
)
UPDATE tickets t SET stage = u.stage, stage_started_at = $9, due_at = u.due_at, yellow_at = u.yellow_at,
       overdue_notified = false,
       department = CASE WHEN u.fresh THEN u.department ELSE t.department END,
       matter = CASE WHEN u.fresh THEN u.matter ELSE t.matter END,
       handling_region_id = CASE WHEN u.fresh THEN h.id ELSE t.handling_region_id END,
       lat = CASE WHEN u.fresh THEN coalesce(t.lat, (SELECT d.lat FROM devices d WHERE d.device_id = t.device_id))
                  ELSE t.lat END,
       lon = CASE WHEN u.fresh THEN coalesce(t.lon, (SELECT d.lon FROM devices d WHERE d.device_id = t.device_id))
                  ELSE t.lon END,
       channel = CASE WHEN u.fresh AND t.channel IS NULL THEN coalesce(
                     (SELECT a.payload->'source'->>'kind' FROM alerts a WHERE a.ticket_id = t.id
                      ORDER BY a.started_at LIMIT 1),
                     (SELECT d.kind FROM devices d WHERE d.device_id = t.device_id), 'sensor')
                 ELSE t.channel END
FROM u LEFT JOIN handling h ON h.start = u.region_id
WHERE t.id = u.id
RETURNING t.id, t.channel, u.fresh
"""

# 类案: the same category at the same place (grid, or device when unplaced) N times in M days. A ticket counts
# the tickets opened before it (by opening time, then id, so tickets opened by one batch count in order) and
# joins the cluster of the earliest of them.
_RECURRING = """
WITH o AS (
    SELECT t.id, t.category, t.region_id, t.device_id, t.opened_at FROM tickets t WHERE t.id = ANY($1::bigint[])
    AND t.source <> 'rootcause'
), earlier AS (
    SELECT o.id AS ticket, t.id, t.recurring_of, t.opened_at FROM o JOIN tickets t
        ON t.category = o.category AND t.region_id = o.region_id AND t.opened_at >= $2
       AND (t.opened_at, t.id) < (o.opened_at, o.id)
    WHERE o.region_id IS NOT NULL
    UNION ALL
    SELECT o.id, t.id, t.recurring_of, t.opened_at FROM o JOIN tickets t
        ON t.category = o.category AND t.device_id IS NOT DISTINCT FROM o.device_id AND t.opened_at >= $2
       AND (t.opened_at, t.id) < (o.opened_at, o.id)
    WHERE o.region_id IS NULL
), found AS (
    SELECT e.ticket, count(*) + 1 AS n,
           (array_agg(coalesce(e.recurring_of, e.id) ORDER BY e.opened_at, e.id))[1] AS root
    FROM earlier e GROUP BY e.ticket HAVING count(*) + 1 >= $3
), marked AS (
    UPDATE tickets t SET recurring_of = f.root FROM found f WHERE t.id = f.ticket RETURNING t.id, f.root, f.n
)
INSERT INTO ticket_events (ticket_id, actor, kind, data)
SELECT m.id, 'system', 'ticket.recurring', jsonb_build_object('recurring_of', m.root, 'count', m.n, 'days', $4::integer)
FROM marked m ORDER BY m.id
"""

# 治理专项: a new case of an open root-cause case's cluster (same category or group, same place) is linked to it
# (the oldest such root cause when several match), and both histories say so.
_ATTACH = """
WITH found AS (
    SELECT DISTINCT ON (t.id) t.id, rc.ticket_id AS root
    FROM tickets t
    JOIN root_causes rc ON rc.category IN (t.category, split_part(t.category, '.', 1)) AND wangge_in_root_cause(t, rc)
    JOIN tickets r ON r.id = rc.ticket_id AND r.closed_at IS NULL
    WHERE t.id = ANY($1::bigint[]) AND t.root_cause_id IS NULL
    ORDER BY t.id, rc.ticket_id
), linked AS (
    UPDATE tickets t SET root_cause_id = f.root FROM found f WHERE t.id = f.id RETURNING t.id, f.root
)
INSERT INTO ticket_events (ticket_id, at, actor, kind, data)
SELECT l.id, $2::timestamptz, 'system', 'ticket.linked', jsonb_build_object('root_cause', l.root) FROM linked l
UNION ALL
SELECT l.root, $2::timestamptz, 'system', 'root_cause.case_added', jsonb_build_object('ticket', l.id) FROM linked l
"""


# Duplicates among alerts: each new alert ticket with a position and the open case of its category nearest to it
# within the distance, reported within the window — an older case, or a new one of this batch with a smaller id
# (so of two smoke detectors set off by one fire, the second joins the first).
_NEAREST_FOR_ALERTS = nearest_open_cases(
    "SELECT t.id, t.category, t.lat, t.lon, t.correlation_key FROM tickets t"
    " WHERE t.id = ANY($1::bigint[]) AND t.source = 'alert' AND t.lat IS NOT NULL",
    "AND o.correlation_key <> f.correlation_key AND (o.id < f.id OR NOT o.id = ANY($1::bigint[]))",
)

# The joining tickets' alerts, counts and history move to the case they join; each is cancelled as merged.
_JOIN = """
WITH j AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::double precision[]) AS j(src, dst, metres)),
moved AS (UPDATE alerts a SET ticket_id = j.dst FROM j WHERE a.ticket_id = j.src RETURNING a.ticket_id),
src AS (SELECT t.id, t.state, t.alert_count, t.active_alerts, t.last_alert_at, t.severity FROM tickets t
        JOIN j ON j.src = t.id),
grown AS (
    UPDATE tickets t SET alert_count = t.alert_count + g.alerts, active_alerts = t.active_alerts + g.active,
           last_alert_at = greatest(t.last_alert_at, g.last_at), last_reported_at = $4, updated_at = $4,
           severity = CASE WHEN wangge_severity_rank(g.severity) > wangge_severity_rank(t.severity) THEN g.severity
                           ELSE t.severity END
    FROM (SELECT j.dst, sum(s.alert_count)::int AS alerts, sum(s.active_alerts)::int AS active,
                 max(s.last_alert_at) AS last_at,
                 (array_agg(s.severity ORDER BY wangge_severity_rank(s.severity) DESC))[1] AS severity
          FROM j JOIN src s ON s.id = j.src GROUP BY j.dst) g
    WHERE t.id = g.dst RETURNING t.id
),
cancelled AS (
    UPDATE tickets t SET state = 'cancelled', closed_at = $4, merged_into = j.dst, alert_count = 0,
           active_alerts = 0, stage = NULL, due_at = NULL, yellow_at = NULL, updated_at = $4
    FROM j WHERE t.id = j.src RETURNING t.id
)
INSERT INTO ticket_events (ticket_id, at, actor, kind, from_state, to_state, note, data)
SELECT j.src, $4, 'system', 'ticket.merged_into', s.state, 'cancelled', 'an open case of this category is nearby',
       jsonb_build_object('into', j.dst, 'metres', round(j.metres::numeric, 1))
FROM j JOIN src s ON s.id = j.src
UNION ALL
SELECT j.dst, $4, 'system', 'ticket.merged', NULL, NULL, 'an alert nearby joined this case',
       jsonb_build_object('from', j.src, 'metres', round(j.metres::numeric, 1))
FROM j
"""


async def join_nearby_alerts(conn: Conn, rules: CaseRules, opened: Sequence[int], now: datetime) -> dict[int, int]:
    """New alert tickets that duplicate an open case nearby join it; returns {joining ticket: case joined}."""
    cfg = rules.duplicates
    if not cfg.enabled or not opened:
        return {}
    rows = await conn.fetch(
        _NEAREST_FOR_ALERTS, list(opened), cfg.distance_m, now - timedelta(hours=cfg.window_h), METRES_PER_DEGREE
    )
    nearest = {r["id"]: (r["into_id"], float(r["metres"])) for r in rows}
    joined: dict[int, int] = {}
    for ticket in sorted(nearest):  # a new ticket that joined another of this batch passes its case on
        target, _ = nearest[ticket]
        joined[ticket] = joined.get(target, target)
    if joined:
        src = list(joined)
        await conn.execute(_JOIN, src, [joined[t] for t in src], [nearest[t][1] for t in src], now)
    return joined


async def start_tickets(
    conn: Conn, rules: CaseRules, opened: Sequence[int], reopened: Sequence[int], now: datetime
) -> dict[int, int]:
    """Deadlines for tickets just opened or reopened; for the opened ones routing, the handling region, the
    device's position and recurrence too. A new alert ticket that duplicates an open case nearby joins it;
    returns those {joining ticket: case joined}."""
    ids = [*opened, *reopened]
    if not ids:
        return {}
    fresh = set(opened)
    rows = await conn.fetch(
        "SELECT id, state, category, source, region_id, region_path FROM tickets WHERE id = ANY($1::bigint[])", ids
    )
    cols: list[list[Any]] = [[] for _ in range(8)]
    for row in rows:
        stage, limit = stage_clock(rules, row["state"], row["category"], now, row["source"])
        chosen = route(rules, row["category"], row["region_path"]) if row["id"] in fresh else None
        values = (
            row["id"],
            stage,
            limit.due_at if limit else None,
            limit.yellow_at if limit else None,
            chosen.department if chosen else None,
            chosen.matter if chosen else None,
            row["id"] in fresh,
            row["region_id"],
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    channels = {row["id"]: row["channel"] for row in await conn.fetch(_START, *cols, now) if row["fresh"]}
    joined = await join_nearby_alerts(conn, rules, opened, now)
    for ticket, channel in channels.items():
        if channel:
            (INTAKE_DUPLICATES if ticket in joined else INTAKE).labels(channel).inc()
    cases = [t for t in opened if t not in joined]
    if cases:
        since = now - timedelta(days=rules.recurring_days)
        await conn.execute(_RECURRING, cases, since, rules.recurring_count, rules.recurring_days)
        await conn.execute(_ATTACH, cases, now)
    return joined


async def after_ingest(
    conn: Conn, rules: CaseRules, outcomes: Sequence[str], tickets: Sequence[int | None], now: datetime
) -> None:
    """Start what a batch of alerts opened or reopened, and announce every stored alert event on its ticket."""
    opened = [t for o, t in zip(outcomes, tickets, strict=True) if o == "opened" and t is not None]
    reopened = [t for o, t in zip(outcomes, tickets, strict=True) if o == "reopened" and t is not None]
    joined = await start_tickets(conn, rules, opened, reopened, now)
    events: list[Event] = []
    announced: set[int] = set()
    for outcome, ticket in zip(outcomes, tickets, strict=True):
        if ticket is None or outcome == "duplicate":
            continue
        if ticket in joined:  # its alerts are the case's it joined now
            if ticket not in announced:
                announced.add(ticket)
                events.append(("ticket.updated", joined[ticket], {"change": "alert joined", "from": ticket}))
            ticket = joined[ticket]
        elif outcome == "opened":
            events.append(("ticket.created", ticket, {}))
        elif outcome == "reopened":
            events.append(("ticket.updated", ticket, {"change": "reopened"}))
        events.append(("alert.received", ticket, {"outcome": outcome}))
    await emit_many(conn, events)
