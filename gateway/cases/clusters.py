"""类案 analysis: where the same kind of problem keeps coming back — clusters of tickets of one category (or
category group) at one place, ranked by how many there were in the period and how that moved against the
period before.

A place is one of: a cell of `radius_m` metres (tickets with a location), a grid (the ticket's region), or a
building (the reporting device's). PostGIS is not in the bundled PostgreSQL: the cells are a plain projection
(x = lon·cos(lat), y = lat, in metres), exact enough at a city's scale. Cells are not merged with their
neighbours: in a dense district every cell has neighbours and merging chains the whole map into one
cluster; the price is that a spot on a cell edge can be counted in two cells (a larger radius joins them).
Everything is ranked and cut in PostgreSQL; only the listed clusters' newest ticket ids are gathered.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from wangge.gateway.cases.regions import METRES_PER_DEGREE
from wangge.gateway.storage.paths import subtree
from wangge.gateway.storage.pool import custom_plans

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

Place = Literal["cell", "grid", "building"]
SAMPLE = 20  # ticket ids returned per cluster, newest first (the drill-down)

_CATEGORY = "CASE WHEN $5 THEN split_part(t.category, '.', 1) ELSE t.category END"
# Root-cause cases (治理专项) sit at their cluster's place but are not cases of it.
_PERIODS = "t.region_path LIKE $1 AND t.opened_at >= $3 AND t.opened_at < $4 AND t.source <> 'rootcause'"
_PLACE: dict[Place, str] = {
    "cell": (  # one bigint per cell (x in the high 32 bits, y offset by 2^31 in the low): cheap to group by
        f"floor(t.lon * cos(radians(t.lat)) * {METRES_PER_DEGREE} / $8)::bigint * 4294967296"
        f" + (floor(t.lat * {METRES_PER_DEGREE} / $8)::bigint + 2147483648) AS place, NULL::text AS name"
        f" FROM tickets t WHERE {_PERIODS} AND t.lat IS NOT NULL AND t.lon IS NOT NULL"
    ),
    "grid": f"r.code AS place, r.name FROM tickets t JOIN regions r ON r.id = t.region_id WHERE {_PERIODS}",
    "building": (
        "b.code AS place, b.name FROM tickets t JOIN devices d ON d.device_id = t.device_id"
        f" JOIN buildings b ON b.code = d.building_code WHERE {_PERIODS}"
    ),
}
_RANKED = """
WITH keyed AS (
  SELECT {category} AS category, t.id, t.opened_at, t.lat, t.lon, t.opened_at >= $2 AS current, {place}),
ranked AS (
  SELECT category, place, count(*) FILTER (WHERE current) AS n, count(*) FILTER (WHERE NOT current) AS prev_n
    FROM keyed GROUP BY 1, 2 HAVING count(*) FILTER (WHERE current) >= $6
   ORDER BY 3 DESC, count(*) FILTER (WHERE current) - count(*) FILTER (WHERE NOT current) DESC, 1, 2 LIMIT $7),
detail AS (  -- only the listed clusters' own tickets: where they are, when, and the newest ids
  SELECT k.category, k.place, min(k.name) AS name, avg(k.lat) AS lat, avg(k.lon) AS lon,
         min(k.opened_at) AS first_at, max(k.opened_at) AS last_at,
         (array_agg(k.id ORDER BY k.id DESC))[1:{sample}] AS ids
    FROM keyed k JOIN ranked USING (category, place) WHERE k.current GROUP BY 1, 2)
SELECT r.*, d.name, d.lat, d.lon, d.first_at, d.last_at, d.ids FROM ranked r JOIN detail d USING (category, place)
 ORDER BY r.n DESC, r.n - r.prev_n DESC, r.category, r.place
"""


async def clusters(
    conn: Conn,
    scope: str,
    since: datetime,
    until: datetime,
    place: Place = "cell",
    radius_m: float = 100.0,
    by_group: bool = False,
    min_count: int = 3,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Clusters of at least `min_count` tickets opened in [since, until) in the caller's area, most first (then
    the biggest rise), each with the count of the period of equal length before."""
    before = since - (until - since)
    sql = _RANKED.format(category=_CATEGORY, place=_PLACE[place], sample=SAMPLE)
    args: list[Any] = [subtree(scope), since, before, until, by_group, min_count, limit]
    async with custom_plans(conn):
        rows = await conn.fetch(sql, *args, *([radius_m] if place == "cell" else []))
    return [
        {
            "rank": i + 1,
            "category": r["category"],
            "place": _cell_name(r["place"]) if place == "cell" else r["place"],
            "place_name": r["name"],
            "count": r["n"],
            "previous_count": r["prev_n"],
            "change": r["n"] - r["prev_n"],
            "lat": round(r["lat"], 6) if r["lat"] is not None else None,
            "lon": round(r["lon"], 6) if r["lon"] is not None else None,
            "first_at": r["first_at"],
            "last_at": r["last_at"],
            "ticket_ids": list(r["ids"]),
        }
        for i, r in enumerate(rows)
    ]


def _cell_name(key: int) -> str:
    x, y = divmod(key, 4294967296)
    return f"cell:{x}:{y - 2147483648}"
