"""Signing in and out, and who the caller is."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from wangge.gateway.http.inputs import BodyModel
from wangge.gateway.http.schemas.common import Out


class LoginRequest(BodyModel):
    username: str = Field(min_length=1, max_length=1024)
    password: str = Field(max_length=1024)


class SignedInUser(Out):
    username: str
    role: str | None
    scope: str


class LoginResult(Out):
    token: str
    expires_at: datetime
    user: SignedInUser


class Me(Out):
    name: str
    role: str | None
    scope: str
    edge_id: str | None
