"""Reading a request through its operation's models: query, path and JSON body, each refused as a problem
document that names every bad field (RFC 9457 `invalid_params`)."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from wangge.configfile import format_loc
from wangge.gateway.http.problems import ProblemError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def _blank_is_absent(value: Any) -> Any:
    return None if value == "" else value


CommaList = Annotated[list[T], BeforeValidator(_split_commas)]
"""A query parameter holding a comma-separated list (`state=open,closed`)."""
Blank = BeforeValidator(_blank_is_absent)
"""An empty query parameter means the parameter is absent."""


class QueryModel(BaseModel):
    """Query parameters: strings converted to their types; unknown parameters are ignored, as browsers add some."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class PathModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BodyModel(BaseModel):
    """A JSON request body, read as JSON's own types (a number is not a string): a field the model does not
    name is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _invalid(exc: ValidationError, top_level_names: bool) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for error in exc.errors():
        loc = error["loc"][:1] if top_level_names else error["loc"]
        name = format_loc(loc) if loc else "(body)"
        if not any(p["name"] == name for p in out):
            out.append({"name": name, "reason": error["msg"].removeprefix("Value error, ")})
    return out


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ProblemError(
            400, "Bad Request", "some query parameters are invalid", invalid_params=_invalid(exc, True)
        ) from None


def parse_path(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.match_info))
    except ValidationError as exc:
        params = _invalid(exc, True)
        raise ProblemError(
            400, "Bad Request", "; ".join(f"{p['name']} {p['reason']}" for p in params), invalid_params=params
        ) from None


DEFAULT_MAX_BYTES = 64 * 1024


async def read_body(request: web.Request, max_bytes: int, what: str = "this endpoint") -> bytes:
    """The whole body, or 413 as soon as it passes `max_bytes` (a public endpoint needs only a few KB; a clip part
    some MB). A sender that hangs up mid-body (an edge stopping a stream) gets a 400: nothing to store."""
    too_large = ProblemError(413, "Content Too Large", f"{what} takes at most {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    chunks, size = [], 0
    try:
        while chunk := await request.content.read(65536):
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
    except ConnectionResetError:
        raise ProblemError(400, "Bad Request", "the body was cut short: the connection closed mid-body") from None
    return b"".join(chunks)


async def parse_json(
    request: web.Request,
    model: type[M],
    status: int = 422,
    detail: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> M:
    """The body as `model`, or 415 (not JSON), 413 (too large), 400 (not a JSON object) or `status` naming each
    bad field."""
    if request.content_type != "application/json":
        raise ProblemError(415, "Unsupported Media Type", "send Content-Type: application/json")
    data = await read_body(request, max_bytes)
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", f"the body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProblemError(400, "Bad Request", f"the body must be a JSON object, not {type(raw).__name__}")
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        params = _invalid(exc, False)
        title = "Bad Request" if status == 400 else "Unprocessable Content"
        raise ProblemError(status, title, detail or "the body is not valid", invalid_params=params) from None
