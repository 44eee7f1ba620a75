"""The live feed's query."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from wangge.gateway.http.inputs import Blank, QueryModel


class StreamQuery(QueryModel):
    last_event_id: Annotated[int | None, Blank] = Field(
        default=None, ge=0, le=2**63 - 1, description="resume after this event id (or the Last-Event-ID header)"
    )
