"""Regions (district > street > community > grid): parsing an import file, checking it whole, and placing a
point in the deepest region whose polygon contains it.

An import is checked completely before anything is written, and every bad row is reported by its line
(CSV) or feature number (GeoJSON) and reason; the caller then writes all of it in one transaction or none.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

METRES_PER_DEGREE = 111_320.0  # of latitude (and of longitude at the equator): distances at a city's scale

LEVELS = ("district", "street", "community", "grid")
_CODE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: dict[str, Any] | None
    where: str  # "line 4" / "feature 2", for messages


class ImportError_(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _check_geometry(geometry: Any) -> str | None:
    if geometry is None:
        return None
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return "geometry must be a GeoJSON Polygon or MultiPolygon"
    polygons = [geometry.get("coordinates")] if geometry["type"] == "Polygon" else geometry.get("coordinates")
    if not isinstance(polygons, list) or not polygons:
        return "geometry has no coordinates"
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return "a polygon needs at least one ring"
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4:
                return "a ring needs at least 4 positions (closed)"
            for point in ring:
                if (
                    not isinstance(point, list)
                    or len(point) < 2
                    or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in point[:2])
                ):
                    return "a position must be [longitude, latitude]"
                if not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):
                    return f"position {point[:2]} is outside longitude/latitude range"
            if ring[0][:2] != ring[-1][:2]:
                return "a ring must end where it starts"
    return None


def _row(fields: dict[str, Any], where: str) -> tuple[RegionRow | None, list[str]]:
    problems = []
    code = str(fields.get("code") or "").strip()
    name = str(fields.get("name") or "").strip()
    level = str(fields.get("level") or "").strip()
    parent = str(fields.get("parent_code") or "").strip() or None
    if not _CODE.match(code):
        problems.append(f"{where}: code must be 1-32 letters, digits, '-' or '_' (got {code!r})")
    if not name:
        problems.append(f"{where}: name is required")
    if level not in LEVELS:
        problems.append(f"{where}: level must be one of {', '.join(LEVELS)} (got {level!r})")
    elif level == "district" and parent is not None:
        problems.append(f"{where}: a district has no parent")
    elif level != "district" and parent is None:
        problems.append(f"{where}: a {level} needs parent_code")
    geometry = fields.get("geometry")
    geometry_problem = _check_geometry(geometry)
    if geometry_problem:
        problems.append(f"{where}: {geometry_problem}")
    if problems:
        return None, problems
    return RegionRow(code, name, level, parent, geometry, where), []


def parse_geojson(text: str) -> tuple[list[RegionRow], list[str]]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return [], [f"file: not JSON: {exc}"]
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        return [], ["file: must be a GeoJSON FeatureCollection"]
    rows, problems = [], []
    for i, feature in enumerate(doc["features"], start=1):
        where = f"feature {i}"
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            problems.append(f"{where}: must be a Feature with properties")
            continue
        row, row_problems = _row({**feature["properties"], "geometry": feature.get("geometry")}, where)
        problems += row_problems
        if row:
            rows.append(row)
    return rows, problems


def parse_csv(text: str) -> tuple[list[RegionRow], list[str]]:
    """Columns: code, name, level, parent_code, and optionally geometry (GeoJSON text)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"code", "name", "level", "parent_code"} - set(reader.fieldnames or [])
    if missing:
        return [], [f"line 1: missing columns {sorted(missing)}"]
    rows, problems = [], []
    for record in reader:
        where = f"line {reader.line_num}"
        fields: dict[str, Any] = dict(record)
        raw_geometry = (record.get("geometry") or "").strip()
        if raw_geometry:
            try:
                fields["geometry"] = json.loads(raw_geometry)
            except ValueError:
                problems.append(f"{where}: geometry is not GeoJSON")
                continue
        else:
            fields["geometry"] = None
        row, row_problems = _row(fields, where)
        problems += row_problems
        if row:
            rows.append(row)
    return rows, problems


def check_tree(rows: Sequence[RegionRow], existing: dict[str, str]) -> list[str]:
    """Cross-row checks: duplicate codes, parents that exist (in the file or `existing` code → level), and
    parents one level up."""
    problems = []
    seen: dict[str, RegionRow] = {}
    for row in rows:
        if row.code in seen:
            problems.append(f"{row.where}: code {row.code} is also at {seen[row.code].where}")
        seen[row.code] = row
    for row in rows:
        if row.parent_code is None:
            continue
        parent_level = seen[row.parent_code].level if row.parent_code in seen else existing.get(row.parent_code)
        if parent_level is None:
            problems.append(f"{row.where}: parent_code {row.parent_code} is neither in the file nor imported")
        elif LEVELS.index(parent_level) != LEVELS.index(row.level) - 1:
            problems.append(
                f"{row.where}: a {row.level} must sit under a {LEVELS[LEVELS.index(row.level) - 1]}, "
                f"not a {parent_level}"
            )
    return problems


def parents_first(rows: Iterable[RegionRow]) -> list[RegionRow]:
    return sorted(rows, key=lambda r: LEVELS.index(r.level))


def _rings(geometry: dict[str, Any]) -> list[list[Ring]]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [[[(float(p[0]), float(p[1])) for p in ring] for ring in polygon] for polygon in polygons]


def _in_ring(lon: float, lat: float, ring: Ring) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def contains(geometry: dict[str, Any], lon: float, lat: float) -> bool:
    """Point in (Multi)Polygon, holes excluded (ray casting; regions are small enough to be planar)."""
    for polygon in _rings(geometry):
        if _in_ring(lon, lat, polygon[0]) and not any(_in_ring(lon, lat, hole) for hole in polygon[1:]):
            return True
    return False


def bbox(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    points = [p for polygon in _rings(geometry) for ring in polygon for p in ring]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)
