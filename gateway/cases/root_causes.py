"""治理专项: a root-cause case opened from a 类案 cluster, to resolve one class of problem at one place instead
of its cases one by one.

It is a ticket of its own (source 'rootcause'): opened registered (its opening is the 立案), with the
`cases.root_cause_sla` limits and a department of its own, walking the usual workflow from dispatch. The
cluster's cases of the period are linked to it (`root_cause_id`) and stay linked; while it is open, a new case
of the same category at the same place attaches to it as it opens (gateway/cases/opening.py). Closing it leaves
the linked cases as they are, unless the supervisor asks for them to be closed with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.events import emit, emit_many
from wangge.gateway.cases.opening import start_tickets
from wangge.gateway.cases.rules import ROOT_CAUSE, CaseRules
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

SUPERVISORS = ("supervisor", "admin")
MAX_LISTED = 500  # linked cases listed on the root-cause ticket, newest first


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster as GET /api/v1/stats/clusters names it."""

    category: str
    by_group: bool
    place: Literal["cell", "grid", "building"]
    key: str
    radius_m: float
    since: datetime
    until: datetime


async def _place_columns(conn: Conn, spec: ClusterSpec, scope: str) -> dict[str, Any]:
    """The root_causes columns that pin the place down; 422 for a key that names no such place."""
    if spec.place == "cell":
        parts = spec.key.split(":")
        if len(parts) != 3 or parts[0] != "cell" or not all(p.lstrip("-").isdigit() for p in parts[1:]):
            raise CaseError(422, f"key {spec.key!r} is not a cell as the clusters name it (cell:x:y)")
        return {"radius_m": spec.radius_m, "cell_x": int(parts[1]), "cell_y": int(parts[2])}
    if spec.place == "grid":
        region = await conn.fetchval(
            "SELECT id FROM regions WHERE code = $1 AND level = 'grid' AND path LIKE $2", spec.key, subtree(scope)
        )
        if region is None:
            raise CaseError(422, f"no grid {spec.key!r} in your area")
        return {"region_id": region}
    if await conn.fetchval("SELECT code FROM buildings WHERE code = $1", spec.key) is None:
        raise CaseError(422, f"no building {spec.key!r}")
    return {"building_code": spec.key}


def common_path(paths: list[str]) -> str:
    """The deepest region path every one of `paths` lies in ('/' when they share nothing)."""
    parts = [p.strip("/").split("/") for p in paths]
    shared: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1 or not level[0]:
            break
        shared.append(level[0])
    return "/" + "".join(f"{code}/" for code in shared) if shared else "/"


async def open_root_cause(
    conn: Conn,
    rules: CaseRules,
    principal: Principal,
    now: datetime,
    spec: ClusterSpec,
    *,
    title: str | None,
    department: str | None,
    note: str | None,
) -> int:
    """Open the root-cause case of a cluster and link the cluster's cases (in the caller's area, not yet linked
    to another); 422 when the cluster has none. Runs in the caller's transaction."""
    if principal.role not in SUPERVISORS:
        raise CaseError(403, "only a supervisor may open a root-cause case (治理专项)")
    place = await _place_columns(conn, spec, principal.scope)
    root: int = await conn.fetchval(
        "INSERT INTO tickets (correlation_key, state, category, severity, title, description, source, region_path,"
        " reported_by, opened_at, updated_at, channel)"
        " VALUES ('rootcause/' || gen_random_uuid(), 'registered', $1, 'major', $2, $3, $4, $5, $6, $7, $7, $4)"
        " RETURNING id",
        spec.category,
        (title or "").strip() or "治理专项",
        note,
        ROOT_CAUSE,
        principal.scope,
        principal.name,
        now,
    )
    await conn.execute(
        "INSERT INTO root_causes (ticket_id, category, by_group, place, place_key, radius_m, cell_x, cell_y,"
        " region_id, building_code, since, until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        root,
        spec.category,
        spec.by_group,
        spec.place,
        spec.key,
        place.get("radius_m"),
        place.get("cell_x"),
        place.get("cell_y"),
        place.get("region_id"),
        place.get("building_code"),
        spec.since,
        spec.until,
    )
    members = await conn.fetch(
        "UPDATE tickets t SET root_cause_id = $1 FROM root_causes rc"
        " WHERE rc.ticket_id = $1 AND t.root_cause_id IS NULL AND t.region_path LIKE $2"
        " AND t.opened_at >= rc.since AND t.opened_at < rc.until AND wangge_in_root_cause(t, rc)"
        " RETURNING t.id, t.region_path, t.lat, t.lon",
        root,
        subtree(principal.scope),
    )
    if not members:
        raise CaseError(422, "that cluster has no cases in your area that are not already in a root-cause case")
    await _place_root(conn, root, members, place.get("region_id"))
    if not (title or "").strip():
        await _name_root(conn, rules, root, spec)
    ids = [m["id"] for m in members]
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, to_state, note, data)"
        " VALUES ($1, $2, $3, 'ticket.opened', 'registered', $4, $5)",
        root,
        now,
        principal.name,
        note,
        {"root_cause": {"category": spec.category, "place": spec.place, "key": spec.key}, "cases": len(ids)},
    )
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, data)"
        " SELECT u.id, $2, $3, 'ticket.linked', jsonb_build_object('root_cause', $1::bigint)"
        " FROM unnest($4::bigint[]) AS u(id)",
        root,
        now,
        principal.name,
        ids,
    )
    await start_tickets(conn, rules, [root], [], now)
    if department is not None and department.strip():
        await conn.execute("UPDATE tickets SET department = $2 WHERE id = $1", root, department.strip())
    await emit(conn, "ticket.created", root, {"root_cause_cases": len(ids)})
    return root


async def _place_root(conn: Conn, root: int, members: list[Any], grid: int | None) -> None:
    """The root-cause case sits in the grid of its cluster, or the deepest region holding all its cases, at their
    mean location."""
    located = [(m["lat"], m["lon"]) for m in members if m["lat"] is not None and m["lon"] is not None]
    lat = sum(p[0] for p in located) / len(located) if located else None
    lon = sum(p[1] for p in located) / len(located) if located else None
    await conn.execute(
        "UPDATE tickets t SET region_id = r.id, region_path = r.path, lat = $4, lon = $5 FROM regions r"
        " WHERE t.id = $1 AND r.id = coalesce($2::bigint, (SELECT x.id FROM regions x WHERE x.path = $3))",
        root,
        grid,
        common_path([m["region_path"] for m in members]),
        lat,
        lon,
    )


async def _name_root(conn: Conn, rules: CaseRules, root: int, spec: ClusterSpec) -> None:
    """治理专项 <category> · <the place as people know it: the grid's or building's name, else where it is>."""
    where = await conn.fetchval(
        "SELECT CASE WHEN $2 = 'grid' THEN (SELECT name FROM regions WHERE code = $3)"
        " WHEN $2 = 'building' THEN (SELECT name FROM buildings WHERE code = $3)"
        " ELSE (SELECT round(lat::numeric, 5) || ', ' || round(lon::numeric, 5) FROM tickets WHERE id = $1) END",
        root,
        spec.place,
        spec.key,
    )
    await conn.execute(
        "UPDATE tickets SET title = $2 WHERE id = $1",
        root,
        f"治理专项 {rules.categories.name(spec.category)} · {where or spec.key}",
    )


async def close_linked(conn: Conn, root: int, now: datetime, actor: str, note: str | None) -> list[int]:
    """Close the open cases linked to a root-cause case that has just been closed (asked for by a supervisor);
    a deadline they had missed stays missed."""
    rows = await conn.fetch(
        "WITH old AS (SELECT id, state, stage, due_at FROM tickets WHERE root_cause_id = $1 AND closed_at IS NULL"
        "  ORDER BY id FOR UPDATE),"
        " closed AS (UPDATE tickets t SET state = 'closed', closed_at = $2, stage = NULL, stage_started_at = $2,"
        "  due_at = NULL, yellow_at = NULL, extension_requested = NULL,"
        "  was_overdue = t.was_overdue OR coalesce(old.due_at <= $2, false), updated_at = $2"
        "  FROM old WHERE t.id = old.id RETURNING t.id, old.state, old.stage, old.due_at)"
        " INSERT INTO ticket_events (ticket_id, at, actor, kind, from_state, to_state, note, data)"
        " SELECT c.id, $2, $3, 'root_cause.closed', c.state, 'closed', $4,"
        "  jsonb_build_object('root_cause', $1::bigint) || CASE WHEN c.due_at <= $2 THEN"
        "  jsonb_build_object('late_since', c.due_at, 'late_stage', c.stage) ELSE '{}'::jsonb END"
        " FROM closed c ORDER BY c.id RETURNING ticket_id",
        root,
        now,
        actor,
        note,
    )
    ids = [r["ticket_id"] for r in rows]
    await emit_many(conn, [("ticket.closed", i, {"root_cause": root}) for i in ids])
    return ids


async def describe(conn: Conn, root: int) -> dict[str, Any]:
    """What a root-cause ticket shows: its cluster's definition and its linked cases (newest first)."""
    spec = await conn.fetchrow(
        "SELECT category, by_group, place, place_key, radius_m, since, until FROM root_causes WHERE ticket_id = $1",
        root,
    )
    linked = await conn.fetch(
        "SELECT id, state, category, title, opened_at, closed_at FROM tickets WHERE root_cause_id = $1"
        " ORDER BY opened_at DESC, id DESC LIMIT $2",
        root,
        MAX_LISTED,
    )
    total = await conn.fetchval("SELECT count(*) FROM tickets WHERE root_cause_id = $1", root)
    return {
        "root_cause": dict(spec) if spec is not None else None,
        "linked": [dict(r) for r in linked],
        "linked_count": total,
    }
