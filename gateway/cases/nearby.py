"""The one search a report and a new alert ticket both make for an open case to join: of the point's category,
within the duplicate distance, its latest report within the window, nearest first.

A box on the partial index tickets_open_place (category, lat, lon) WHERE closed_at IS NULL reads only the open
cases near the point; the distance is equirectangular, exact enough at tens of metres."""

from __future__ import annotations

from wangge.gateway.cases.regions import METRES_PER_DEGREE


def nearest_open_cases(points: str, also: str = "") -> str:
    """SQL answering (id, into_id, metres) for each row (id, category, lat, lon) of the query `points`: the
    nearest open case within $2 metres reported at or after $3 ($4: METRES_PER_DEGREE). `also` adds conditions
    on the case `o` against its point `f`."""
    return f"""
WITH p AS (SELECT $2::double precision AS metres, $3::timestamptz AS since, $4::double precision AS per_degree),
f AS (
    SELECT q.*, p.per_degree * cos(radians(q.lat)) AS per_lon, p.metres / p.per_degree AS dlat,
           p.metres / (p.per_degree * greatest(cos(radians(q.lat)), 1e-6)) AS dlon
    FROM ({points}) q, p
), c AS (
    SELECT f.id, o.id AS into_id,
           sqrt(power((o.lon - f.lon) * f.per_lon, 2) + power((o.lat - f.lat) * p.per_degree, 2)) AS metres
    FROM f CROSS JOIN p
    JOIN tickets o ON o.closed_at IS NULL AND o.lat IS NOT NULL AND o.category = f.category
     AND o.lat BETWEEN f.lat - f.dlat AND f.lat + f.dlat AND o.lon BETWEEN f.lon - f.dlon AND f.lon + f.dlon
     AND o.source <> 'rootcause' AND o.merged_into IS NULL AND coalesce(o.last_reported_at, o.opened_at) >= p.since
     {also}
)
SELECT DISTINCT ON (c.id) c.id, c.into_id, c.metres FROM c, p WHERE c.metres <= p.metres
ORDER BY c.id, c.metres, c.into_id
"""


__all__ = ["METRES_PER_DEGREE", "nearest_open_cases"]
