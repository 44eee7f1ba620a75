"""An edge's retained status message, validated field by field before anything stores or exports it: a status
is retained by the broker, so a bad one would otherwise come back at every gateway restart."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wangge import alert_format
from wangge.configfile import format_loc

MAX_STATUS_BYTES = 64 * 1024
Count = Annotated[float, Field(ge=0, le=2**53, allow_inf_nan=False)]
Scalar = str | float | bool | None


class EdgeStatus(BaseModel):
    """What edges send (`edge.uplink.status_payload`); further fields are kept when they are plain JSON."""

    model_config = ConfigDict(extra="allow", strict=True)

    state: Literal["online", "offline", "cleared"]
    edge_id: str | None = Field(default=None, max_length=128)
    at: str | None = Field(default=None, max_length=64)
    alerts_sent: Count | None = None
    outbox_depth: Count | None = None
    readings: Count | None = None
    devices: dict[Annotated[str, Field(max_length=128)], dict[str, Scalar]] | None = Field(
        default=None, max_length=1000
    )


class StatusError(ValueError):
    pass


def parse_status(edge_id: str, payload: bytes) -> dict[str, Any]:
    """The status as a plain dict, or StatusError saying what is wrong; an empty payload clears the status."""
    if not payload:
        return {"state": "cleared"}
    if len(payload) > MAX_STATUS_BYTES:
        raise StatusError(f"{len(payload)} bytes > {MAX_STATUS_BYTES}")
    try:
        raw = alert_format.load_json(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StatusError(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(raw, dict):
        raise StatusError(f"must be a JSON object, not {type(raw).__name__}")
    problem = alert_format.json_problem(raw, max_depth=4)
    if problem is not None:
        raise StatusError(problem)
    try:
        status = EdgeStatus.model_validate(raw)
    except ValidationError as exc:
        raise StatusError("; ".join(f"{format_loc(e['loc'])}: {e['msg']}" for e in exc.errors()[:10])) from None
    if status.edge_id is not None and status.edge_id != edge_id:
        raise StatusError(f"edge_id {status.edge_id!r} sent on {edge_id!r}'s topic")
    return raw
