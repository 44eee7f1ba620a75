"""The route table: each operation says once what it takes and what it answers, as typed models.

The app registers its routes from the table and the OpenAPI document is generated from the same table, so
the document cannot name a route, parameter or body the app does not have. A handler receives its validated
inputs as keyword arguments: `path`, `query` and `body`, for those its operation declares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from wangge.gateway.http.inputs import DEFAULT_MAX_BYTES, parse_json, parse_path, parse_query

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Body:
    """A request body: a JSON model, or raw bytes of the listed media types (an upload)."""

    model: type[BaseModel] | None = None
    media_types: tuple[str, ...] = ("application/json",)
    schema_name: str | None = None  # a raw body's schema: a component the document defines by name
    max_bytes: int = DEFAULT_MAX_BYTES
    error_status: int = 422
    error_detail: str | None = None


@dataclass(frozen=True)
class Reply:
    """One successful answer: a JSON model, another media type, or nothing (204)."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    errors: tuple[int, ...]
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    body: Body | None = None
    public: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    def bind(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The aiohttp handler: validate the declared inputs, then call the route function with them."""
        op = self

        async def handle(request: web.Request) -> web.StreamResponse:
            kwargs: dict[str, Any] = {}
            if op.path_params is not None:
                kwargs["path"] = parse_path(request, op.path_params)
            if op.query is not None:
                kwargs["query"] = parse_query(request, op.query)
            if op.body is not None and op.body.model is not None:
                kwargs["body"] = await parse_json(
                    request, op.body.model, op.body.error_status, op.body.error_detail, op.body.max_bytes
                )
            return await op.handler(request, **kwargs)

        handle.__name__ = op.operation_id
        return handle


@dataclass
class RouteTable:
    """The operations of one route module (one resource); `tag` groups them in the document."""

    tag: str
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        replies: tuple[Reply, ...] | Reply,
        errors: tuple[int, ...] = (400, 401, 403),
        query: type[BaseModel] | None = None,
        path_params: type[BaseModel] | None = None,
        body: Body | type[BaseModel] | None = None,
        public: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=self.tag,
                    replies=replies if isinstance(replies, tuple) else (replies,),
                    errors=errors,
                    query=query,
                    path_params=path_params,
                    body=Body(body) if isinstance(body, type) else body,
                    public=public,
                )
            )
            return handler

        return register

    def get(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kwargs)


def json_reply(model: type[BaseModel], status: int = 200, description: str = "OK") -> Reply:
    return Reply(status, description, model)
