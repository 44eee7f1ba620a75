"""The HTTP contract, checked on every response the test suite receives: each is validated against the
OpenAPI document the gateway generates (with openapi-core, which nobody here wrote), so a response field
that no model declares, a wrong type or an undocumented status fails the test that received it."""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathNotFound
from openapi_core.testing import MockRequest, MockResponse

from wangge.gateway.http.openapi import document

# Bodies that are streams or bytes are checked by status and media type only.
_STREAMED = ("text/event-stream",)


@functools.cache
def _document() -> dict[str, Any]:
    return document()


@functools.cache
def _api() -> OpenAPI:
    # Problem documents are JSON too; openapi-core knows only application/json by name.
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(_document(), config=config)


def check_response(method: str, url: str, status: int, content_type: str, body: bytes) -> None:
    """Raise AssertionError naming the route and what is wrong when a response breaks its documented schema."""
    parts = urlsplit(url)
    if not parts.path.startswith("/api/"):  # health and metrics are served by edges too, with other bodies
        return
    if status == 404 and content_type != "application/problem+json":
        return
    if content_type in _STREAMED:
        _check_status_only(method, parts.path, status)
        return
    request = MockRequest(
        "http://127.0.0.1", method.lower(), parts.path, args=dict(parse_qsl(parts.query)), content_type=""
    )
    response = MockResponse(body, status_code=status, content_type=content_type or "application/octet-stream")
    errors = [e for e in _api().iter_response_errors(request, response) if not isinstance(e, PathNotFound)]
    if errors:
        detail = "; ".join(_describe(e) for e in errors)
        excerpt = body[:300].decode("utf-8", "replace")
        raise AssertionError(f"{method} {parts.path} → {status} breaks the API document: {detail}\n{excerpt}")


def _check_status_only(method: str, path: str, status: int) -> None:
    """A stream's body never ends, so only its route and status are checked."""
    operation = _document()["paths"].get(path, {}).get(method.lower())
    assert operation is not None and str(status) in operation["responses"], f"{method} {path} → {status}"


def _describe(error: Exception) -> str:
    cause: Any = error.__cause__
    inner = getattr(cause, "schema_errors", None)
    if inner:
        return f"{error}: " + ", ".join(f"{list(e.absolute_path)}: {e.message}" for e in inner)
    return str(cause or error)


def checked_json(method: str, url: str, status: int, content_type: str, body: bytes) -> Any:
    check_response(method, url, status, content_type, body)
    return json.loads(body) if body else None
