"""Users and tokens, as the people who run the accounts see them (never a password or a token's secret)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from wangge.alert_format import IDENT
from wangge.gateway.http.inputs import Blank, BodyModel, PathModel, QueryModel
from wangge.gateway.http.schemas.common import Out

RoleName = Literal["admin", "supervisor", "operator", "grid_worker"]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
RegionCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")]


class UserQuery(QueryModel):
    role: Annotated[RoleName | None, Blank] = None
    disabled: Annotated[bool | None, Blank] = None
    q: Annotated[str | None, Blank] = Field(default=None, max_length=200, description="text in username or name")
    cursor: Annotated[str | None, Blank] = Field(default=None, max_length=64)
    limit: int = Field(default=100, ge=1, le=1000)


class UserPath(PathModel):
    username: Username


class User(Out):
    username: str
    display_name: str
    role: str
    region_code: str | None
    scope: str
    created_at: datetime
    disabled_at: datetime | None
    last_login_at: datetime | None


class UserPage(Out):
    items: list[User]
    next_cursor: str | None


class NewUser(BodyModel):
    username: Username
    password: str = Field(min_length=10, max_length=1024)
    role: RoleName
    region: RegionCode | None = Field(default=None, description="required for every role but admin")
    display_name: str = Field(default="", max_length=200)


class UserPatch(BodyModel):
    """Only the fields to change; a change of role or region, and disabling, revoke the user's tokens."""

    role: RoleName | None = None
    region: RegionCode | None = None
    display_name: str | None = Field(default=None, max_length=200)
    disabled: bool | None = None


class PasswordChange(BodyModel):
    password: str = Field(min_length=10, max_length=1024)
    current_password: str | None = Field(default=None, max_length=1024, description="when changing your own")


class TokenQuery(QueryModel):
    user: Annotated[str | None, Blank] = Field(default=None, max_length=64)
    edge_id: Annotated[str | None, Blank] = Field(default=None, max_length=128)
    active: bool = Field(default=False, description="only tokens neither revoked nor expired")
    cursor: int = Field(default=0, ge=0, le=2**62)
    limit: int = Field(default=100, ge=1, le=1000)


class TokenPath(PathModel):
    id: int = Field(ge=1, le=2**62)


class Token(Out):
    id: int
    name: str
    username: str | None
    edge_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenPage(Out):
    items: list[Token]
    next_cursor: str | None


class EdgeTokenPath(PathModel):
    edge_id: str = Field(max_length=128, pattern=IDENT.pattern)


class EdgeTokenIssued(Out):
    token: str = Field(description="shown this once")
    expires_at: datetime
    previous_valid_until: datetime = Field(description="the edge's earlier tokens work until then")
