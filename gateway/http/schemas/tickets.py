"""Tickets: the queue, one ticket with its alerts, history and attachments, and workflow actions."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from wangge.gateway.cases import workflow
from wangge.gateway.cases.evidence import MAX_PHOTO_BYTES
from wangge.gateway.cases.extensions import MAX_EXTENSION_MINUTES
from wangge.gateway.cases.sla import parse_duration
from wangge.gateway.http.inputs import Blank, BodyModel, CommaList, PathModel, QueryModel
from wangge.gateway.http.schemas.common import Out

Light = Literal["red", "yellow", "green", "none"]
LIGHTS: tuple[Light, ...] = ("red", "yellow", "green", "none")
TicketState = Literal[workflow.STATES]  # type: ignore[valid-type]
Text = Annotated[str | None, Blank]


class TicketPath(PathModel):
    id: int = Field(ge=0, le=10**18 - 1, description="the ticket id")


class Ticket(Out):
    id: int
    correlation_key: str
    state: TicketState
    category: str
    severity: str
    title: str
    description: str | None
    source: str
    edge_id: str | None
    device_id: str | None
    rule_id: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    alert_count: int
    active_alerts: int
    first_alert_at: datetime | None
    last_alert_at: datetime | None
    region_path: str
    lat: float | None
    lon: float | None
    department: str | None
    matter: str | None
    stage: str | None
    stage_started_at: datetime | None
    due_at: datetime | None
    yellow_at: datetime | None
    escalation_level: int
    supervised: bool
    was_overdue: bool
    false_alarm_reason: str | None
    recurring_of: int | None
    reported_by: str | None
    rating: str | None
    rating_comment: str | None
    reopen_count: int
    extension_requested: str | None = Field(description="延期: the extra time asked for, pending a decision")
    extension_count: int = Field(description="extensions granted so far")
    root_cause_id: int | None = Field(description="治理专项: the root-cause case this case is linked to")
    channel: str | None = Field(description="how it came in: resident, open311, grid_worker, camera, sensor, edge")
    reporters: int = Field(description="people who reported it (duplicates joined it instead of opening cases)")
    merged_into: int | None = Field(description="the case this one was merged into (then it is cancelled)")
    region_code: str | None
    region_name: str | None
    handling_region_code: str | None
    handling_region_name: str | None
    light: Light


class LightCounts(Out):
    red: int
    yellow: int
    green: int
    none: int


class TicketPage(Out):
    items: list[Ticket]
    next_cursor: str | None
    now: datetime
    light_counts: LightCounts | None = Field(default=None, description="counts per light: first page only")


class TicketFilterQuery(QueryModel):
    state: CommaList[Literal["open", *workflow.STATES]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="comma list; `open` = every open state"
    )
    light: CommaList[Light] = Field(default_factory=list, description="comma list of red, yellow, green, none")
    category: Annotated[str | None, Blank] = Field(default=None, max_length=128, description="this or any below")
    region: Annotated[str | None, Blank] = Field(default=None, max_length=32, description="a region code: its subtree")
    q: Text = Field(default=None, max_length=200, description="text in title or description")
    source: CommaList[Literal["alert", "report", "rootcause"]] = Field(
        default_factory=list, description="alert, report or rootcause (治理专项)"
    )
    since: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="opened at or after")
    until: Annotated[AwareDatetime | None, Blank] = Field(default=None, description="opened before")
    mine: CommaList[Literal["1", "true"]] = Field(default_factory=list, description="1: only tickets I reported")
    sort: Literal["queue", "newest"] = Field(default="queue", description="queue: light, then due time")


class TicketQuery(TicketFilterQuery):
    limit: int = Field(default=50, ge=1, le=200, description="page size")
    cursor: Text = Field(default=None, max_length=600, description="next_cursor of the previous page")


class Alert(Out):
    alert_id: UUID
    edge_id: str
    device_id: str
    rule_id: str
    category: str
    severity: str
    title: str
    started_at: datetime
    ended_at: datetime | None
    last_seq: int
    emitted_at: datetime
    received_at: datetime
    payload: dict[str, Any]


class TicketEvent(Out):
    id: int
    at: datetime
    actor: str
    kind: str
    from_state: str | None
    to_state: str | None
    note: str | None
    data: dict[str, Any]


class Attachment(Out):
    id: int
    event_id: int | None
    kind: str
    alert_id: UUID | None
    content_type: str
    size: int
    uploaded_by: str
    created_at: datetime
    device_id: str | None = Field(description="clips: the camera that recorded it")
    part: int | None = Field(description="clips: parts of a long alert count from 0")
    covers_from: datetime | None = Field(description="clips: wall time of the first frame")
    covers_to: datetime | None = Field(description="clips: wall time of the last frame")
    duration_s: float | None


class TicketWithActions(Ticket):
    allowed_actions: list[str]


class RootCauseCluster(Out):
    category: str = Field(description="a category code, or a category group when by_group")
    by_group: bool
    place: str
    place_key: str = Field(description="cell:x:y, a grid's code or a building's code, as the clusters name it")
    radius_m: float | None
    since: datetime
    until: datetime


class LinkedCase(Out):
    id: int
    state: TicketState
    category: str
    title: str
    opened_at: datetime
    closed_at: datetime | None


class TicketDetail(TicketWithActions):
    alerts: list[Alert]
    events: list[TicketEvent]
    attachments: list[Attachment]
    now: datetime
    root_cause: RootCauseCluster | None = Field(default=None, description="a root-cause case: its cluster")
    linked: list[LinkedCase] | None = Field(default=None, description="a root-cause case: its cases, newest first")
    linked_count: int | None = None


class RootCauseRequest(BodyModel):
    """Open a root-cause case (治理专项) from a cluster of GET /api/v1/stats/clusters."""

    category: str = Field(min_length=1, max_length=128, description="the cluster's category (or group, by=group)")
    by: Literal["category", "group"] = "category"
    place: Literal["cell", "grid", "building"]
    key: str = Field(min_length=1, max_length=128, description="the cluster's place, as the cluster list names it")
    radius_m: float = Field(default=100, ge=10, le=2000, description="place=cell: the radius the clusters used")
    since: AwareDatetime
    until: AwareDatetime
    title: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200, description="default: the category's route")
    note: str | None = Field(default=None, max_length=4000)


PhotoType = Literal["image/jpeg", "image/png", "image/webp"]


class Photo(BodyModel):
    """A photo inline, as base64; decoded and size-checked here."""

    model_config = ConfigDict(extra="ignore", strict=True)

    content_type: PhotoType
    data_base64: str = Field(description=f"the image, base64; 1 to {MAX_PHOTO_BYTES} bytes decoded")

    @field_validator("data_base64")
    @classmethod
    def _decodes(cls, value: str) -> str:
        try:
            data = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError("is not base64") from None
        if not 0 < len(data) <= MAX_PHOTO_BYTES:
            raise ValueError(f"must decode to 1 byte to {MAX_PHOTO_BYTES} bytes")
        return value

    def decoded(self) -> tuple[str, bytes]:
        return self.content_type, base64.b64decode(self.data_base64)


Photos = Annotated[list[Photo], Field(max_length=10)]


class ActionRequest(BodyModel):
    action: str = Field(max_length=64, description=f"one of {', '.join(workflow.ACTIONS)}")
    note: str | None = Field(default=None, max_length=4000)
    department: str | None = Field(default=None, max_length=200, description="dispatch: the department")
    photos: Photos | None = None
    extension: str | None = Field(
        default=None,
        max_length=16,
        description="request_extension: how much more time, e.g. 4h or 2d (a working day on a working-time clock),"
        " at most 30 days",
    )
    close_linked: bool = Field(default=False, description="close on a root-cause case: close its open cases too")

    @field_validator("extension")
    @classmethod
    def _extension(cls, value: str | None) -> str | None:
        if value is not None:
            amount, unit = parse_duration(value)
            if not 0 < amount * {"m": 1, "h": 60, "d": 1440}[unit] <= MAX_EXTENSION_MINUTES:
                raise ValueError("must be more than nothing and at most 30 days")
        return value
