"""The registry in PostgreSQL: regions (imported whole or not at all), sites, edges and devices, and
placing a point in the deepest region that contains it."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import asyncpg

from wangge.gateway.cases import regions as region_rules
from wangge.gateway.storage.pages import keyset_page
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


class RegistryError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


async def import_regions(conn: Conn, text: str, filename: str) -> int:
    """Check the whole file, then write it in one transaction; RegistryError lists every bad row."""
    parse = region_rules.parse_geojson if filename.lower().endswith((".json", ".geojson")) else region_rules.parse_csv
    rows, problems = parse(text)
    existing = {r["code"]: r["level"] for r in await conn.fetch("SELECT code, level FROM regions")}
    problems += region_rules.check_tree(rows, existing)
    for row in rows:
        if row.code in existing and existing[row.code] != row.level:
            problems.append(f"{row.where}: {row.code} is already a {existing[row.code]}; levels cannot change")
    if problems:
        raise RegistryError(problems)
    async with conn.transaction():
        for row in region_rules.parents_first(rows):
            box = region_rules.bbox(row.geometry) if row.geometry else (None, None, None, None)
            await conn.execute(
                "INSERT INTO regions (code, name, level, parent_id, path, geometry, min_lon, min_lat, max_lon, max_lat)"
                " VALUES ($1, $2, $3, (SELECT id FROM regions WHERE code = $4), '', $5, $6, $7, $8, $9)"
                " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id,"
                " geometry = EXCLUDED.geometry, min_lon = EXCLUDED.min_lon, min_lat = EXCLUDED.min_lat,"
                " max_lon = EXCLUDED.max_lon, max_lat = EXCLUDED.max_lat, updated_at = now()",
                row.code,
                row.name,
                row.level,
                row.parent_code,
                row.geometry,
                *box,
            )
        moved = await conn.fetch(
            "WITH RECURSIVE tree AS ("
            " SELECT id, '/' || code || '/' AS path FROM regions WHERE parent_id IS NULL"
            " UNION ALL SELECT r.id, tree.path || r.code || '/' FROM regions r JOIN tree ON r.parent_id = tree.id)"
            " UPDATE regions SET path = tree.path FROM tree WHERE regions.id = tree.id AND regions.path <> tree.path"
            " RETURNING regions.id"
        )
        if moved:
            await move_scope(conn, [r["id"] for r in moved])
    return len(rows)


async def move_scope(conn: Conn, region_ids: list[int]) -> None:
    """What belongs to moved regions moves with them: their tickets, the feed events of those tickets, and the
    webhook subscriptions on them. (Users and edges hold the region id and follow by themselves.)"""
    tickets = await conn.fetch(
        "UPDATE tickets t SET region_path = r.path FROM regions r"
        " WHERE r.id = t.region_id AND r.id = ANY($1) AND t.region_path <> r.path RETURNING t.id, t.region_path",
        region_ids,
    )
    if tickets:
        await conn.execute(
            "UPDATE outbox_events e SET region_path = m.path FROM unnest($1::bigint[], $2::text[]) AS m(id, path)"
            " WHERE e.ticket_id = m.id AND e.region_path <> m.path",
            [t["id"] for t in tickets],
            [t["region_path"] for t in tickets],
        )
    await conn.execute(
        "UPDATE webhook_subscriptions s SET region_path = r.path FROM regions r"
        " WHERE r.id = s.region_id AND r.id = ANY($1) AND s.region_path <> r.path",
        region_ids,
    )


async def export_regions(conn: Conn, fmt: str, scope: str = "/") -> str:
    rows = await conn.fetch(
        "SELECT r.code, r.name, r.level, p.code AS parent_code, r.geometry FROM regions r"
        " LEFT JOIN regions p ON p.id = r.parent_id WHERE r.path LIKE $1"
        " ORDER BY array_position(ARRAY['district','street','community','grid'], r.level), r.code",
        subtree(scope),
    )
    if fmt == "geojson":
        features = [
            {
                "type": "Feature",
                "geometry": r["geometry"],
                "properties": {
                    "code": r["code"],
                    "name": r["name"],
                    "level": r["level"],
                    "parent_code": r["parent_code"],
                },
            }
            for r in rows
        ]
        return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "name", "level", "parent_code", "geometry"])
    for r in rows:
        geometry = json.dumps(r["geometry"], separators=(",", ":")) if r["geometry"] else ""
        writer.writerow([r["code"], r["name"], r["level"], r["parent_code"] or "", geometry])
    return out.getvalue()


async def locate(conn: Conn, lon: float, lat: float) -> Any:
    """The deepest region whose polygon contains the point (bbox in SQL, polygon test here)."""
    candidates = await conn.fetch(
        "SELECT id, code, level, path, geometry FROM regions WHERE geometry IS NOT NULL"
        " AND $1 BETWEEN min_lon AND max_lon AND $2 BETWEEN min_lat AND max_lat"
        " ORDER BY array_position(ARRAY['grid','community','street','district'], level)",
        lon,
        lat,
    )
    for row in candidates:
        if region_rules.contains(row["geometry"], lon, lat):
            return row
    return None


DEVICE_KINDS = ("site", "building", "edge", "camera", "sensor")


async def import_devices(conn: Conn, text: str) -> int:
    """CSV rows of kind (site, building, edge, camera, sensor), id, edge_id, name, region_code, lat, lon and
    optionally parent (a building's site, a device's building); all or nothing, parents before children."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"kind", "id", "region_code"} - set(reader.fieldnames or [])
    if missing:
        raise RegistryError([f"line 1: missing columns {sorted(missing)}"])
    regions = {r["code"]: r["id"] for r in await conn.fetch("SELECT code, id FROM regions")}
    problems, rows = [], []
    for record in reader:
        where = f"line {reader.line_num}"
        kind, ident = (record.get("kind") or "").strip(), (record.get("id") or "").strip()
        if kind not in DEVICE_KINDS:
            problems.append(f"{where}: kind must be one of {', '.join(DEVICE_KINDS)}")
        elif kind in ("site", "building") and not (record.get("region_code") or "").strip():
            problems.append(f"{where}: a {kind} needs region_code")
        if not ident or len(ident) > 128:
            problems.append(f"{where}: id is required (at most 128 characters)")
        code = (record.get("region_code") or "").strip()
        if code and code not in regions:
            problems.append(f"{where}: region_code {code!r} is not an imported region")
        coords: list[float | None] = []
        for name in ("lat", "lon"):
            raw = (record.get(name) or "").strip()
            try:
                coords.append(float(raw) if raw else None)
            except ValueError:
                problems.append(f"{where}: {name} {raw!r} is not a number")
        rows.append(
            (
                (record.get("parent") or "").strip() or None,
                kind,
                ident,
                (record.get("edge_id") or "").strip() or None,
                (record.get("name") or "").strip(),
                regions.get(code),
                *[*coords, None, None][:2],
            )
        )
    sites = {r["code"] for r in await conn.fetch("SELECT code FROM sites")} | {r[2] for r in rows if r[1] == "site"}
    buildings = {r["code"] for r in await conn.fetch("SELECT code FROM buildings")} | {
        r[2] for r in rows if r[1] == "building"
    }
    for line, (parent, kind, ident, *_) in enumerate(rows, start=2):
        if parent is None:
            continue
        if kind == "building" and parent not in sites:
            problems.append(f"line {line}: parent {parent!r} of building {ident!r} is not a site")
        elif kind in ("camera", "sensor") and parent not in buildings:
            problems.append(f"line {line}: parent {parent!r} of {kind} {ident!r} is not a building")
        elif kind in ("site", "edge"):
            problems.append(f"line {line}: a {kind} has no parent")
    if problems:
        raise RegistryError(problems)
    rows.sort(key=lambda r: DEVICE_KINDS.index(r[1]) if r[1] in DEVICE_KINDS else 0)
    async with conn.transaction():
        for parent, kind, ident, edge_id, label, region_id, lat, lon in rows:
            if kind == "site":
                await conn.execute(
                    "INSERT INTO sites (code, name, region_id) VALUES ($1, $2, $3)"
                    " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, region_id = EXCLUDED.region_id",
                    ident,
                    label,
                    region_id,
                )
            elif kind == "building":
                await conn.execute(
                    "INSERT INTO buildings (code, name, site_code, region_id) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, site_code = EXCLUDED.site_code,"
                    " region_id = EXCLUDED.region_id",
                    ident,
                    label,
                    parent,
                    region_id,
                )
            elif kind == "edge":
                await conn.execute(
                    "INSERT INTO edges (edge_id, state, last_seen, region_id) VALUES ($1, 'unknown', now(), $2)"
                    " ON CONFLICT (edge_id) DO UPDATE SET region_id = EXCLUDED.region_id",
                    ident,
                    region_id,
                )
            else:
                await conn.execute(
                    "INSERT INTO devices (device_id, edge_id, kind, name, region_id, lat, lon, building_code)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (device_id) DO UPDATE SET"
                    " edge_id = EXCLUDED.edge_id, kind = EXCLUDED.kind, name = EXCLUDED.name,"
                    " region_id = EXCLUDED.region_id, lat = EXCLUDED.lat, lon = EXCLUDED.lon,"
                    " building_code = EXCLUDED.building_code",
                    ident,
                    edge_id,
                    kind,
                    label,
                    region_id,
                    lat,
                    lon,
                    parent,
                )
    return len(rows)


async def region_path(conn: Conn | asyncpg.Pool, code: str) -> str | None:
    value = await conn.fetchval("SELECT path FROM regions WHERE code = $1", code)
    return None if value is None else str(value)


async def list_regions(
    conn: Conn, path: str, levels: list[str], text: str | None, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    rows = await conn.fetch(
        "SELECT r.code, r.name, r.level, p.code AS parent_code, r.path FROM regions r"
        " LEFT JOIN regions p ON p.id = r.parent_id WHERE r.path LIKE $1"
        " AND (cardinality($2::text[]) = 0 OR r.level = ANY($2))"
        " AND ($3::text IS NULL OR strpos(lower(r.name), lower($3)) > 0)"
        " AND ($4::text IS NULL OR r.path > $4) ORDER BY r.path LIMIT $5",
        subtree(path),
        levels,
        text,
        after,
        limit + 1,
    )
    return keyset_page(list(rows), limit, "path")


async def list_edges(
    conn: Conn, path: str, states: list[str], after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    rows = await conn.fetch(
        "SELECT e.edge_id, e.state, e.last_seen, e.status, r.code AS region_code FROM edges e"
        " LEFT JOIN regions r ON r.id = e.region_id WHERE coalesce(r.path, '/') LIKE $1"
        " AND (cardinality($2::text[]) = 0 OR e.state = ANY($2)) AND ($3::text IS NULL OR e.edge_id > $3)"
        " ORDER BY e.edge_id LIMIT $4",
        subtree(path),
        states,
        after,
        limit + 1,
    )
    return keyset_page(list(rows), limit, "edge_id")


async def list_devices(
    conn: Conn,
    path: str,
    kinds: list[str],
    edge_id: str | None,
    text: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    rows = await conn.fetch(
        "SELECT d.device_id, d.edge_id, d.kind, d.name, d.lat, d.lon, d.building_code, r.code AS region_code,"
        " e.state AS edge_state, e.last_seen AS edge_last_seen,"
        # What the edge last reported of this device (state, fps, last frame age), when it reports devices.
        " CASE WHEN jsonb_typeof(e.status -> 'devices' -> d.device_id) = 'object'"
        " THEN e.status -> 'devices' -> d.device_id END AS live,"
        " CASE WHEN e.state IS DISTINCT FROM 'online' THEN coalesce(e.state, 'unknown')"
        " ELSE coalesce(e.status -> 'devices' -> d.device_id ->> 'state', 'online') END AS state"
        " FROM devices d"
        " LEFT JOIN regions r ON r.id = d.region_id LEFT JOIN edges e ON e.edge_id = d.edge_id"
        " WHERE coalesce(r.path, '/') LIKE $1 AND (cardinality($2::text[]) = 0 OR d.kind = ANY($2))"
        " AND ($3::text IS NULL OR d.edge_id = $3)"
        " AND ($4::text IS NULL OR strpos(lower(d.name || ' ' || d.device_id), lower($4)) > 0)"
        " AND ($5::text IS NULL OR d.device_id > $5) ORDER BY d.device_id LIMIT $6",
        subtree(path),
        kinds,
        edge_id,
        text,
        after,
        limit + 1,
    )
    return keyset_page(list(rows), limit, "device_id")
