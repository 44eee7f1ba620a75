"""What edge boxes send over HTTPS: alert events (the same wire format as MQTT), snapshots, and the dead
letters of refused messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field

from wangge.gateway.http.inputs import Blank, PathModel, QueryModel
from wangge.gateway.http.schemas.common import Out


class EdgePath(PathModel):
    edge_id: str = Field(max_length=128)


class SnapshotPath(PathModel):
    edge_id: str = Field(max_length=128)
    alert_id: str = Field(max_length=64, description="the alert's UUID")


class RefusedEvent(Out):
    reason: str
    detail: str


class EdgeAlertsResult(Out):
    stored: list[str] = Field(description="alert_id:seq of every event stored (new or already there)")
    refused: list[str]
    problems: list[RefusedEvent]


class SnapshotStored(Out):
    alert_id: str
    ticket_id: int


class DeadLetterQuery(QueryModel):
    limit: int = Field(default=50, ge=1, le=500)
    reason: Annotated[str | None, Blank] = Field(default=None, max_length=64)
    cursor: int = Field(default=0, ge=0, le=2**62)
    since: Annotated[AwareDatetime | None, Blank] = None
    until: Annotated[AwareDatetime | None, Blank] = None


class DeadLetter(Out):
    id: int
    received_at: datetime
    source: str
    reason: str
    detail: str
    payload_bytes: int
    payload_text: str | None = Field(default=None, description="the first 4 KiB, when it is UTF-8")
    payload_base64: str | None = Field(default=None, description="otherwise the first 4 KiB, as hex")


class DeadLetterPage(Out):
    items: list[DeadLetter]
    next_cursor: str | None


class ClipPath(PathModel):
    edge_id: str = Field(max_length=128)
    alert_id: str = Field(max_length=64, description="the alert's UUID")
    camera: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", description="the camera that recorded it")
    part: int = Field(ge=0, le=9999, description="parts of a long alert count from 0")


class ClipQuery(QueryModel):
    covers_from: AwareDatetime = Field(description="the wall time of the clip's first frame")
    covers_to: AwareDatetime = Field(description="the wall time of its last frame")


class ClipStored(Out):
    alert_id: str
    ticket_id: int
    attachment_id: int
    duration_s: float


class EdgeLivePath(PathModel):
    edge_id: str = Field(max_length=128)
    session: UUID
    name: str = Field(pattern=r"^(index\.m3u8|init\.mp4|seg-\d{1,9}\.(ts|m4s))$")
