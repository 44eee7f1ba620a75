"""SLA clocks on tickets: each workflow stage starts its own limit on the working-time calendar."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from wangge.gateway.cases import workflow
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.cases.sla import Deadline, deadline

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


def stage_clock(
    rules: CaseRules, state: str, category: str, now: datetime, source: str = "alert"
) -> tuple[str | None, Deadline | None]:
    """The stage `state` belongs to and its deadline when it starts now (None, None for a closed ticket)."""
    stage = workflow.STAGE_OF_STATE.get(state)
    policy = rules.policy_for(category, source)
    limit = deadline(policy, stage, now, rules.calendar, rules.yellow_share) if (policy and stage) else None
    return stage, limit


async def start_stage_clock(
    conn: Conn, rules: CaseRules, ticket_id: int, state: str, category: str, now: datetime, source: str = "alert"
) -> None:
    """Start the SLA clock of the stage `state` belongs to (or stop it for a closed ticket)."""
    stage, limit = stage_clock(rules, state, category, now, source)
    await conn.execute(
        "UPDATE tickets SET stage = $2, stage_started_at = $3, due_at = $4, yellow_at = $5, overdue_notified = false"
        " WHERE id = $1",
        ticket_id,
        stage,
        now,
        limit.due_at if limit else None,
        limit.yellow_at if limit else None,
    )
