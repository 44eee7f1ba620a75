"""The durable outbox: every alert event is on disk (SQLite, WAL, fsync) before anything tries to send it,
and stays there until the gateway confirms it has stored it (by its key, `alert_id:seq`).

The same database holds the alerts that are still active, written in the same transaction as their
events, so an edge restarted at any point neither forgets an open alert nor opens it twice; and what the
learning rules (anomaly detectors) knew at the last save, so a restart does not make them blind again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_key ON outbox (key);
CREATE TABLE IF NOT EXISTS active_alerts (
    rule_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    alert JSON NOT NULL,
    PRIMARY KEY (rule_id, device_id)
);
CREATE TABLE IF NOT EXISTS learnt_states (
    rule_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    state JSON NOT NULL,
    saved_at REAL NOT NULL,
    PRIMARY KEY (rule_id, device_id)
);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes


class Outbox:
    """Thread-safe: sensor threads append, the uplink thread reads and deletes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._depth = self._count()

    def _count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0])

    @property
    def depth(self) -> int:
        return self._depth

    def append(
        self,
        key: str,
        topic: str,
        payload: bytes,
        created_at: float,
        active_key: tuple[str, str] | None = None,
        active_alert: dict[str, Any] | None = None,
    ) -> None:
        """Store one event; with `active_key`, also store (or, with active_alert None, drop) the alert state."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO outbox (key, topic, payload, created_at) VALUES (?, ?, ?, ?)",
                    (key, topic, payload, created_at),
                )
                if active_key is not None:
                    if active_alert is None:
                        self._db.execute("DELETE FROM active_alerts WHERE rule_id = ? AND device_id = ?", active_key)
                    else:
                        self._db.execute(
                            "INSERT OR REPLACE INTO active_alerts (rule_id, device_id, alert) VALUES (?, ?, ?)",
                            (*active_key, json.dumps(active_alert)),
                        )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth += 1

    def fetch_after(self, last_id: int, limit: int) -> list[OutboxRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
            ).fetchall()
        return [OutboxRow(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    def fetch_ids(self, ids: Iterable[int]) -> list[OutboxRow]:
        """The rows among `ids` that are still here (a confirmation may have removed some)."""
        wanted = list(ids)
        with self._lock:
            rows = [
                self._db.execute("SELECT id, topic, payload FROM outbox WHERE id = ?", (i,)).fetchone() for i in wanted
            ]
        return [OutboxRow(int(r[0]), str(r[1]), bytes(r[2])) for r in rows if r is not None]

    def delete_keys(self, keys: Iterable[str]) -> list[int]:
        """Remove confirmed events; returns the row ids removed (unknown keys are ignored)."""
        key_list = [(k,) for k in keys]
        if not key_list:
            return []
        removed: list[int] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for params in key_list:
                    removed += [
                        int(r[0])
                        for r in self._db.execute("DELETE FROM outbox WHERE key = ? RETURNING id", params).fetchall()
                    ]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth -= len(removed)
        return removed

    def active_alerts(self) -> dict[tuple[str, str], dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT rule_id, device_id, alert FROM active_alerts").fetchall()
        return {(str(r[0]), str(r[1])): json.loads(r[2]) for r in rows}

    def save_learnt(self, states: dict[tuple[str, str], dict[str, Any]], saved_at: float) -> None:
        """Replace the saved learnt states with `states` (one transaction: a crash keeps the previous set)."""
        rows = [
            (rule, device, json.dumps(state, separators=(",", ":")), saved_at)
            for (rule, device), state in states.items()
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM learnt_states")
                self._db.executemany(
                    "INSERT INTO learnt_states (rule_id, device_id, state, saved_at) VALUES (?, ?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def learnt_states(self) -> tuple[dict[tuple[str, str], Any], int]:
        """The saved learnt states, and how many rows could not be read as JSON (left for the next save to replace)."""
        with self._lock:
            rows = self._db.execute("SELECT rule_id, device_id, state FROM learnt_states").fetchall()
        out: dict[tuple[str, str], Any] = {}
        unreadable = 0
        for rule, device, text in rows:
            try:
                out[(str(rule), str(device))] = json.loads(text)
            except (ValueError, TypeError):
                unreadable += 1
        return out, unreadable

    def close(self) -> None:
        with self._lock:
            self._db.close()
