"""What the operator console asks for beyond the case API."""

from __future__ import annotations

from pydantic import Field

from wangge.gateway.http.inputs import PathModel
from wangge.gateway.http.schemas.common import Out


class ConsoleUser(Out):
    name: str
    role: str | None
    scope: str


class MapSettings(Out):
    tile_url: str | None
    attribution: str
    max_zoom: int


class ActionInfo(Out):
    label_zh: str
    needs_note: bool
    target: str | None


class CategoryInfo(Out):
    code: str
    zh: str
    en: str
    parent: str | None
    colour: str | None
    icon: str | None


class CategoryList(Out):
    categories: list[CategoryInfo]


class ConsoleSettings(Out):
    user: ConsoleUser
    map: MapSettings
    report_categories: list[str]
    categories: list[CategoryInfo]
    states: list[str]
    actions: dict[str, ActionInfo]


class DevicePath(PathModel):
    device_id: str = Field(max_length=128)
