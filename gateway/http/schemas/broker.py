"""What EMQX's HTTP authentication and authorisation send and expect (EMQX 5: `result` allow, deny or ignore)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from wangge.gateway.http.inputs import BodyModel
from wangge.gateway.http.schemas.common import Out


class BrokerLogin(BodyModel):
    model_config = ConfigDict(extra="ignore", strict=True)  # EMQX may add fields (peerhost, ...)

    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)
    clientid: str = Field(default="", max_length=256)


class BrokerAccess(BodyModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    username: str = Field(max_length=256)
    topic: str = Field(max_length=1024)
    action: str = Field(max_length=32, description="publish or subscribe")
    clientid: str = Field(default="", max_length=256)


class BrokerVerdict(Out):
    result: Literal["allow", "deny"]
    is_superuser: bool = False
