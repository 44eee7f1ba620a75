"""Regions, edge boxes and devices in the caller's area."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from wangge.gateway.http.inputs import Blank, CommaList, QueryModel
from wangge.gateway.http.schemas.common import Out

Text = Annotated[str | None, Blank]


class RegionQuery(QueryModel):
    level: CommaList[Literal["district", "street", "community", "grid"]] = Field(default_factory=list)
    region: Text = Field(default=None, max_length=32, description="a region code: its subtree")
    q: Text = Field(default=None, max_length=200, description="text in the name")
    limit: int = Field(default=500, ge=1, le=5000)
    cursor: Text = Field(default=None, max_length=400)


class Region(Out):
    code: str
    name: str
    level: str
    parent_code: str | None
    path: str


class RegionPage(Out):
    items: list[Region]
    next_cursor: str | None


class EdgeQuery(QueryModel):
    state: CommaList[Literal["online", "offline", "unknown"]] = Field(default_factory=list)
    region: Text = Field(default=None, max_length=32)
    limit: int = Field(default=200, ge=1, le=1000)
    cursor: Text = Field(default=None, max_length=128)


class Edge(Out):
    edge_id: str
    state: str
    last_seen: datetime
    status: dict[str, Any]
    region_code: str | None


class EdgePage(Out):
    items: list[Edge]
    next_cursor: str | None


class DeviceQuery(QueryModel):
    kind: CommaList[Literal["camera", "sensor"]] = Field(default_factory=list)
    region: Text = Field(default=None, max_length=32)
    edge_id: Text = Field(default=None, max_length=128)
    q: Text = Field(default=None, max_length=200, description="text in the name or id")
    limit: int = Field(default=200, ge=1, le=1000)
    cursor: Text = Field(default=None, max_length=128)


class Device(Out):
    device_id: str
    edge_id: str | None
    kind: str
    name: str
    lat: float | None
    lon: float | None
    building_code: str | None
    region_code: str | None
    edge_state: str | None
    edge_last_seen: datetime | None
    live: dict[str, Any] | None = Field(description="what the edge last reported of this device")
    state: str


class DevicePage(Out):
    items: list[Device]
    next_cursor: str | None
