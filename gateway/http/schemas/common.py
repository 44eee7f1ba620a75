"""Shapes several resources share: the problem document, pages, and the base classes of every body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    """A response body: exactly these fields (additionalProperties false in the document)."""

    model_config = ConfigDict(extra="forbid")


class InvalidParam(BaseModel):
    name: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details; extensions (allowed_actions, state, checks, ...) may follow."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    invalid_params: list[InvalidParam] | None = None
    allowed_actions: list[str] | None = None


class Status(Out):
    status: str
