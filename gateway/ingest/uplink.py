"""The HTTPS uplink: an edge posts its own alert events, checked and stored exactly as from MQTT."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.ingest.batch import Incoming, TimeWindow, confirmations, prepare
from wangge.gateway.ingest.config import IngestConfig
from wangge.gateway.ingest.store import record_outcomes, store

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


async def store_posted(
    conn: Conn, edge_id: str, events: list[Any], rules: CaseRules, now: datetime, settings: IngestConfig
) -> dict[str, list[Any]]:
    """Store the events one edge posted; returns what was stored, refused, and the problems found."""
    topic = f"wangge/edge/{edge_id}/alerts"
    window = TimeWindow.around(now, settings.max_event_age_days, settings.max_clock_ahead_s)
    prepared = prepare([Incoming(0, 0, 0, topic, json.dumps(e).encode()) for e in events], window)
    outcomes = await store(conn, prepared, rules, now, strict_registry=settings.registry == "strict")
    record_outcomes(prepared, outcomes)
    confirmed = confirmations(prepared).get(edge_id, {"stored": [], "refused": []})
    problems = [{"reason": r[1], "detail": r[2]} for r in prepared.rejected]
    return {"stored": confirmed["stored"], "refused": confirmed["refused"], "problems": problems}
