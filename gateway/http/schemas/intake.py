"""The public report channel, merging and splitting duplicate cases, Open311 GeoReport v2 and its keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, RootModel, field_validator

from wangge.gateway.http.inputs import BodyModel, PathModel
from wangge.gateway.http.schemas.common import Out
from wangge.gateway.http.schemas.reports import CategoryName
from wangge.gateway.http.schemas.tickets import Photos


class ResidentChoice(Out):
    code: str = Field(description="what the report names (also the Open311 service_code)")
    zh: str
    en: str
    description: str


class PublicMap(Out):
    tile_url: str | None
    attribution: str
    max_zoom: int


class PublicIntakeSettings(Out):
    categories: list[ResidentChoice]
    max_photos: int
    phone_verification: Literal["off", "optional", "required"]
    map: PublicMap
    bounds: list[list[float]] | None = Field(description="[[south, west], [north, east]] of every region")
    areas: dict[str, Any] = Field(description="GeoJSON FeatureCollection: the outlines of the top regions")


class PublicReportRequest(BodyModel):
    service: str = Field(min_length=1, max_length=40, description="a code from GET /api/v1/public/intake")
    description: str = Field(min_length=1, max_length=2000)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    photos: Photos | None = None
    phone: str | None = Field(default=None, max_length=40, description="for a call-back; operators see it")
    code: str | None = Field(default=None, pattern=r"^\d{6}$", description="the SMS code sent to the phone")
    address: str | None = Field(default=None, max_length=300, description="building, floor, landmark")

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class PublicReportCreated(Out):
    ticket_id: int
    state: str
    category_name: CategoryName
    progress_token: str = Field(description="the reporter's own link token, shown once")
    progress_url: str
    duplicate: bool = Field(description="true: someone reported this first; the report joined their case")
    reporters: int
    message: str


class PhoneCodeRequest(BodyModel):
    phone: str = Field(min_length=5, max_length=40)


class PhoneCodeSent(Out):
    phone: str = Field(description="the number as it will be checked")
    expires_in_s: float


class MergeRequest(BodyModel):
    source: int = Field(ge=1, le=10**18 - 1, description="the case merged into this one (then cancelled)")
    note: str | None = Field(default=None, max_length=2000)


class Merged(Out):
    ticket_id: int
    merged: int
    reports_moved: int
    reporters: int


class SplitPath(PathModel):
    id: int = Field(ge=0, le=10**18 - 1)
    report_id: int = Field(ge=0, le=10**18 - 1)


class SplitRequest(BodyModel):
    note: str | None = Field(default=None, max_length=2000)


class SplitDone(Out):
    ticket_id: int = Field(description="the new case the report opened")
    report_id: int


class CaseReport(Out):
    id: int
    opened_ticket_id: int
    channel: str
    at: datetime
    category: str
    description: str
    lat: float
    lon: float
    address: str | None
    reporter: str | None
    phone: str | None
    attributes: dict[str, Any] | None
    media_url: str | None
    event_id: int | None


class CaseReports(Out):
    items: list[CaseReport]


class KeyRequest(BodyModel):
    name: str = Field(min_length=1, max_length=100, description="the integrating system, e.g. 12345-hotline")
    region: str | None = Field(default=None, max_length=32, description="a region code; absent: everywhere")
    per_minute: int | None = Field(default=None, ge=1, le=100_000, description="default: intake.open311_per_minute")


class Open311Key(Out):
    id: int
    name: str
    region_path: str
    per_minute: int
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class Open311KeyIssued(Open311Key):
    api_key: str = Field(description="shown once")


class Open311Keys(Out):
    items: list[Open311Key]


class KeyPath(PathModel):
    id: int = Field(ge=0, le=10**18 - 1)


Format = Literal["json", "xml"]


class FormatPath(PathModel):
    fmt: Format


class ServicePath(PathModel):
    code: str = Field(max_length=40)
    fmt: Format


class RequestPath(PathModel):
    id: str = Field(max_length=40)
    fmt: Format


class TokenPath(PathModel):
    token: str = Field(max_length=200)
    fmt: Format


class MediaPath(PathModel):
    id: int = Field(ge=0, le=10**18 - 1)


class Service(Out):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class ServiceRequest(Out):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class ServiceRequestUpdate(Out):
    update_id: str
    service_request_id: str
    status: Literal["open", "closed"]
    updated_datetime: str | None
    description: str
    media_url: str


class PostedRequest(Out):
    service_request_id: str
    token: str = Field(description="the reporter's progress token (GET tokens/{token}; /progress.html#token)")
    service_notice: str
    account_id: str | None


class TokenEntry(Out):
    service_request_id: str
    token: str


class ServiceDefinition(Out):
    service_code: str
    attributes: list[dict[str, Any]]


class Services(RootModel[list[Service]]):
    pass


class ServiceRequests(RootModel[list[ServiceRequest]]):
    pass


class ServiceRequestUpdates(RootModel[list[ServiceRequestUpdate]]):
    pass


class RequestsPosted(RootModel[list[PostedRequest]]):
    pass


class Tokens(RootModel[list[TokenEntry]]):
    pass
