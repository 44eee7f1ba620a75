"""Live view: a viewer's session with one camera, and the HLS files its edge pushes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from wangge.gateway.http.inputs import BodyModel, PathModel
from wangge.gateway.http.schemas.common import Out


class LiveStart(BodyModel):
    camera: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", description="a camera's device id")


class LiveSession(Out):
    id: UUID
    camera_id: str
    edge_id: str
    state: str = Field(description="starting (no picture yet), playing, ended")
    playlist: str = Field(description="the HLS playlist to give hls.js (same token)")
    started_at: datetime
    first_segment_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None = Field(description="idle, closed, no_stream, broker")


class LivePath(PathModel):
    session: UUID


class LiveFilePath(PathModel):
    session: UUID
    name: str = Field(pattern=r"^(index\.m3u8|init\.mp4|seg-\d{1,9}\.(ts|m4s))$")
