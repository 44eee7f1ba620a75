"""类案 over the rolling windows the console and the weekly meeting use (the last 7, 30, 90 or 365 days),
answered from a snapshot recounted every `refresh_s` (a request recounts one older than twice that) instead of
a fresh scan of every case of the window.

Why: the exact answer groups every case of the period and the period before by (category, place); over a
year of a million cases that is 1.3–3.5 s on a 2-core box (bench/case_queries.py), and no index
makes it cheaper — scattered cases do not aggregate, so a per-day or per-month roll-up is as large as the cases.
A snapshot is that same answer computed in the background for the windows people keep asking for, and says
when (`until` = the moment it was computed). Any other period is still computed exactly on request.

A snapshot holds the ranked list down to two cases and up to the longest list the API hands out, so every
`min_count` and `limit` is cut from it exactly: the ranking is a total order by count first, so the clusters of
at least m cases are a prefix of it. A window nobody asked for in `keep_h` is dropped, not kept fresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wangge.gateway.cases.clusters import Place, clusters

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

WINDOWS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
STORED_MIN = 2  # the smallest min_count the API takes
STORED_LIMIT = 500  # the largest limit the API takes
ASKED_GRAIN = timedelta(minutes=1)  # `asked_at` is moved at most this often (a read should not write each time)
_TIMES = ("first_at", "last_at")


@dataclass(frozen=True)
class SnapshotKey:
    scope: str
    place: Place
    radius_m: float
    by_group: bool
    days: int

    def args(self) -> tuple[str, str, float, bool, int]:
        # The cell size means nothing for grids and buildings: one snapshot serves any radius there.
        return self.scope, self.place, self.radius_m if self.place == "cell" else 0.0, self.by_group, self.days


@dataclass(frozen=True)
class Snapshot:
    since: datetime
    until: datetime
    items: list[dict[str, Any]]

    def cut(self, min_count: int, limit: int) -> list[dict[str, Any]]:
        """The clusters of at least `min_count` cases, the first `limit` of them, ranked from 1."""
        kept = [c for c in self.items if c["count"] >= min_count][:limit]
        return [{**c, "rank": i + 1} for i, c in enumerate(kept)]


_KEY = "scope = $1 AND place = $2 AND radius_m = $3 AND by_group = $4 AND days = $5"
_UPSERT = (
    "INSERT INTO cluster_snapshots (scope, place, radius_m, by_group, days, since, until, items, took_ms, asked_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT (scope, place, radius_m, by_group, days) DO UPDATE SET since = excluded.since,"
    " until = excluded.until, items = excluded.items, took_ms = excluded.took_ms,"
    " asked_at = greatest(cluster_snapshots.asked_at, excluded.asked_at)"
    " WHERE cluster_snapshots.until < excluded.until"  # two replicas computing at once: the newer one stays
)


async def window_clusters(conn: Conn, key: SnapshotKey, now: datetime, max_age: timedelta) -> tuple[Snapshot, bool]:
    """The window's snapshot, computed now when there is none younger than `max_age`; and whether it was."""
    row = await conn.fetchrow(f"SELECT since, until, items, asked_at FROM cluster_snapshots WHERE {_KEY}", *key.args())
    if row is not None and row["until"] >= now - max_age:
        if row["asked_at"] < now - ASKED_GRAIN:  # best effort: not while the refresh job holds the row
            await conn.execute(
                "UPDATE cluster_snapshots SET asked_at = $6 WHERE ctid = ANY (ARRAY("
                f"SELECT ctid FROM cluster_snapshots WHERE {_KEY} FOR UPDATE SKIP LOCKED))",
                *key.args(),
                now,
            )
        return Snapshot(row["since"], row["until"], [_decoded(c) for c in row["items"]]), False
    snapshot, _ = await compute(conn, key, now, asked_at=now)
    return snapshot, True


async def compute(conn: Conn, key: SnapshotKey, now: datetime, asked_at: datetime) -> tuple[Snapshot, float]:
    """The window ending `now`, exactly as GET /api/v1/stats/clusters computes any period, stored; and the
    seconds counting it took (stored with it, and the refresh job's metric)."""
    since = now - timedelta(days=key.days)
    t0 = time.perf_counter()
    items = await clusters(conn, key.scope, since, now, key.place, key.radius_m, key.by_group, STORED_MIN, STORED_LIMIT)
    took = time.perf_counter() - t0
    await conn.execute(_UPSERT, *key.args(), since, now, [_encoded(c) for c in items], took * 1000, asked_at)
    return Snapshot(since, now, items), took


async def refresh(conn: Conn, now: datetime, refresh_s: float, keep_h: float) -> list[float]:
    """One pass of the background job: windows asked for within `keep_h` and older than `refresh_s` are
    computed again, oldest first; the rest are dropped. Replicas share the work (SKIP LOCKED): each window is
    computed by one of them. Returns the seconds each refresh took."""
    await conn.execute("DELETE FROM cluster_snapshots WHERE asked_at < $1", now - timedelta(hours=keep_h))
    took: list[float] = []
    while True:
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT scope, place, radius_m, by_group, days, asked_at FROM cluster_snapshots WHERE until < $1"
                " ORDER BY until LIMIT 1 FOR UPDATE SKIP LOCKED",
                now - timedelta(seconds=refresh_s),
            )
            if row is None:
                return took
            key = SnapshotKey(row["scope"], row["place"], row["radius_m"], row["by_group"], row["days"])
            _, seconds = await compute(conn, key, now, row["asked_at"])
            took.append(seconds)


def _encoded(cluster: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if k in _TIMES and v is not None else v) for k, v in cluster.items()}


def _decoded(cluster: dict[str, Any]) -> dict[str, Any]:
    return {k: (datetime.fromisoformat(v) if k in _TIMES and v is not None else v) for k, v in cluster.items()}
