"""One-tap reports (一键上报) and the resident's progress page and rating."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from wangge.gateway.http.inputs import BodyModel, PathModel
from wangge.gateway.http.schemas.common import Out
from wangge.gateway.http.schemas.tickets import Photos, Ticket


class ReportRequest(BodyModel):
    category: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=4000, description="what is wrong; its first line is the title")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    severity: Literal["info", "minor", "major", "critical"] = "minor"
    photos: Photos | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class ReportCreated(Ticket):
    progress_token: str = Field(description="the reporter's link token, shown once")
    progress_url: str
    duplicate: bool = Field(description="true: an open case of the category nearby was joined, not a new one opened")


class ProgressPath(PathModel):
    token: str = Field(max_length=200)


class ProgressStep(Out):
    at: datetime
    kind: str
    to_state: str | None


class CategoryName(Out):
    zh: str
    en: str


class Progress(Out):
    id: int
    state: str
    category: str
    category_name: CategoryName
    title: str
    opened_at: datetime
    closed_at: datetime | None
    rating: str | None
    rating_comment: str | None
    reporters: int = Field(description="how many people reported this case")
    history: list[ProgressStep]
    can_rate: bool


class RatingRequest(BodyModel):
    rating: Literal["satisfied", "basically", "not_satisfied"]
    comment: str = Field(default="", max_length=2000)


class RatingResult(Out):
    rating: str
    state: str
