"""The OpenAPI 3.1 document served at /api/v1/openapi.json (a test checks that it names every route)."""

from __future__ import annotations

from typing import Any

from wangge.gateway.cases.workflow import ACTIONS, STATES

PROBLEM = {
    "description": "Problem (RFC 9457)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str, kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    params: list[Any] | None = None,
    body: Any = None,
    public: bool = False,
    errors: tuple[str, ...] = ("400", "401", "403"),
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **{e: PROBLEM for e in errors}}}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        op["security"] = []
    return op


OBJ: dict[str, Any] = {"type": "object"}
TICKET_REF = {"$ref": "#/components/schemas/Ticket"}
PAGE = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": TICKET_REF}, "next_cursor": {"type": ["string", "null"]}},
}


def document() -> dict[str, Any]:
    photos = {
        "type": "array",
        "maxItems": 10,
        "items": {
            "type": "object",
            "required": ["content_type", "data_base64"],
            "properties": {
                "content_type": {"enum": ["image/jpeg", "image/png", "image/webp"]},
                "data_base64": {"type": "string"},
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wangge gateway API",
            "version": "1",
            "description": "Tickets raised from edge alerts and reports. Sign in with POST /api/v1/auth/login "
            "and send `Authorization: Bearer <token>`. Errors are RFC 9457 problem documents. "
            "Every list is limited to the caller's region subtree.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["title", "status"],
                    "properties": {
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "allowed_actions": {"type": "array", "items": {"type": "string"}},
                        "invalid_params": {"type": "array", "items": OBJ},
                    },
                },
                "Ticket": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "state": {"enum": list(STATES)},
                        "light": {"enum": ["red", "yellow", "green", "none"]},
                        "category": {"type": "string"},
                        "severity": {"type": "string"},
                        "title": {"type": "string"},
                        "region_code": {"type": ["string", "null"]},
                        "due_at": {"type": ["string", "null"]},
                        "stage": {"type": ["string", "null"]},
                        "department": {"type": ["string", "null"]},
                        "matter": {"type": ["string", "null"]},
                        "escalation_level": {"type": "integer"},
                        "supervised": {"type": "boolean"},
                        "recurring_of": {"type": ["integer", "null"]},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/auth/login": {
                "post": _op(
                    "Sign in; returns an expiring token",
                    {"200": _json(OBJ)},
                    body={"type": "object", "required": ["username", "password"]},
                    public=True,
                )
            },
            "/api/v1/auth/logout": {"post": _op("Revoke this token", {"204": {"description": "signed out"}})},
            "/api/v1/me": {"get": _op("Who am I", {"200": _json(OBJ)})},
            "/api/v1/tickets": {
                "get": _op(
                    "The queue: open tickets by light then due time, or newest first",
                    {"200": _json(PAGE)},
                    params=[
                        _q("state", "comma list; `open` = every open state", {"type": "string"}),
                        _q("light", "comma list of red, yellow, green, none"),
                        _q("category", "this category or any below it"),
                        _q("region", "a region code: its subtree"),
                        _q("q", "text in title or description"),
                        _q("source", "alert or report"),
                        _q("since", "opened at or after (ISO 8601)"),
                        _q("until", "opened before (ISO 8601)"),
                        _q("sort", "queue (default) or newest"),
                        _q("mine", "1: only tickets the caller reported"),
                        _q("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 200}),
                        _q("cursor", "next_cursor of the previous page"),
                    ],
                )
            },
            "/api/v1/tickets/{id}": {
                "get": _op(
                    "One ticket: alerts, history, attachments, allowed actions",
                    {"200": _json(TICKET_REF)},
                    params=[_path("id")],
                    errors=("400", "401", "404"),
                )
            },
            "/api/v1/tickets/{id}/actions": {
                "post": _op(
                    "A workflow action; 409 lists the allowed ones",
                    {"200": _json(TICKET_REF)},
                    params=[_path("id")],
                    body={
                        "type": "object",
                        "required": ["action"],
                        "properties": {
                            "action": {"enum": list(ACTIONS)},
                            "note": {"type": "string"},
                            "department": {"type": "string"},
                            "photos": photos,
                        },
                    },
                    errors=("400", "401", "403", "404", "409", "422"),
                )
            },
            "/api/v1/attachments/{id}": {
                "get": _op(
                    "A photo (each view is audited)",
                    {"200": {"description": "the image"}},
                    params=[_path("id")],
                    errors=("401", "404"),
                )
            },
            "/api/v1/reports": {
                "post": _op(
                    "One-tap report (一键上报) → ticket and a resident progress token",
                    {"201": _json(TICKET_REF)},
                    body={
                        "type": "object",
                        "required": ["category", "text", "lat", "lon"],
                        "properties": {
                            "category": {"type": "string"},
                            "text": {"type": "string"},
                            "lat": {"type": "number"},
                            "lon": {"type": "number"},
                            "severity": {"type": "string"},
                            "photos": photos,
                        },
                    },
                    errors=("400", "401", "403", "422"),
                )
            },
            "/api/v1/progress/{token}": {
                "get": _op(
                    "What a resident sees of their case",
                    {"200": _json(OBJ)},
                    params=[_path("token", "string")],
                    public=True,
                    errors=("404",),
                )
            },
            "/api/v1/progress/{token}/rating": {
                "post": _op(
                    "满意度评价; not_satisfied reopens the case",
                    {"200": _json(OBJ)},
                    params=[_path("token", "string")],
                    public=True,
                    errors=("400", "404", "409", "422"),
                    body={
                        "type": "object",
                        "required": ["rating"],
                        "properties": {
                            "rating": {"enum": ["satisfied", "basically", "not_satisfied"]},
                            "comment": {"type": "string"},
                        },
                    },
                )
            },
            "/api/v1/regions": {"get": _op("Regions in my area", {"200": _json(OBJ)})},
            "/api/v1/regions.geojson": {
                "get": _op("Regions in my area as GeoJSON", {"200": {"description": "application/geo+json"}})
            },
            "/api/v1/edges": {"get": _op("Edge boxes in my area", {"200": _json(OBJ)})},
            "/api/v1/devices": {"get": _op("Devices in my area", {"200": _json(OBJ)})},
            "/api/v1/edges/{edge_id}/alerts": {
                "post": _op(
                    "HTTPS uplink: an edge posts its own alert events (edge token)",
                    {"200": _json(OBJ), "207": _json(OBJ, "some events refused")},
                    params=[_path("edge_id", "string")],
                    body={"type": "object"},
                )
            },
            "/api/v1/edges/{edge_id}/alerts/{alert_id}/snapshot": {
                "put": _op(
                    "An alert's best snapshot (JPEG, PNG or WebP body, edge token); sending it again replaces it",
                    {"201": _json(OBJ, "stored"), "200": _json(OBJ, "replaced")},
                    params=[_path("edge_id", "string"), _path("alert_id", "string")],
                    errors=("401", "403", "404", "409", "413", "415"),
                )
            },
            "/api/v1/events/stream": {
                "get": _op(
                    "Live feed (text/event-stream): outbox events in the caller's area; resume with Last-Event-ID",
                    {"200": {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}},
                    params=[_q("last_event_id", "resume after this event id (or the Last-Event-ID header)")],
                )
            },
            "/api/v1/console/config": {
                "get": _op(
                    "The console's settings: the caller, map tiles, report categories, actions", {"200": _json(OBJ)}
                )
            },
            "/api/v1/devices/{device_id}/snapshot": {
                "get": _op(
                    "A camera's newest alert snapshot in the caller's area (each view audited)",
                    {"200": {"description": "the image", "content": {"image/*": {}}}},
                    params=[_path("device_id", "string")],
                    errors=("401", "404"),
                )
            },
            "/api/v1/dead-letters": {
                "get": _op(
                    "Refused alert messages, newest first (admin)",
                    {"200": _json(OBJ)},
                    params=[_q("limit", "page size", {"type": "integer"})],
                )
            },
            "/api/v1/stats/hotspots": {
                "get": _op(
                    "一周热点: share per category, ranked, against the week before",
                    {"200": _json(OBJ)},
                    params=[_q("days", "window", {"type": "integer"})],
                )
            },
            "/api/v1/stats/summary": {
                "get": _op(
                    "Counts, closure and on-time rates, stage times, false alarms",
                    {"200": _json(OBJ)},
                    params=[_q("since", "ISO 8601"), _q("until", "ISO 8601")],
                )
            },
            "/api/v1/webhooks/subscriptions": {
                "get": _op("Webhook subscriptions in my area (supervisor, admin)", {"200": _json(OBJ)}),
                "post": _op(
                    "Subscribe: URL, format (standard, dingtalk, wecom, feishu), secret, filters; the "
                    "secret is shown once",
                    {"201": _json(OBJ)},
                    body=OBJ,
                    errors=("400", "401", "403", "422"),
                ),
            },
            "/api/v1/webhooks/subscriptions/{id}": {
                "patch": _op(
                    "Change or re-enable a subscription",
                    {"200": _json(OBJ)},
                    params=[_path("id")],
                    body=OBJ,
                    errors=("400", "401", "403", "404", "422"),
                ),
                "delete": _op(
                    "Disable a subscription for good",
                    {"204": {"description": "disabled"}},
                    params=[_path("id")],
                    errors=("401", "403", "404"),
                ),
            },
            "/api/v1/webhooks/deliveries": {
                "get": _op("Deliveries, newest first (filters state, subscription)", {"200": _json(OBJ)})
            },
            "/api/v1/webhooks/deliveries/{id}/attempts": {
                "get": _op(
                    "Every attempt: status, latency, response excerpt",
                    {"200": _json(OBJ)},
                    params=[_path("id")],
                    errors=("401", "403", "404"),
                )
            },
            "/api/v1/webhooks/deliveries/{id}/replay": {
                "post": _op(
                    "Send a dead delivery again (same webhook-id)",
                    {"200": _json(OBJ)},
                    params=[_path("id")],
                    errors=("401", "403", "404", "409"),
                )
            },
            "/healthz": {"get": _op("The process is up", {"200": {"description": "up"}}, public=True, errors=())},
            "/readyz": {
                "get": _op(
                    "Database and broker reachable", {"200": {"description": "ready"}}, public=True, errors=("503",)
                )
            },
            "/metrics": {"get": _op("Prometheus metrics", {"200": {"description": "text"}}, public=True, errors=())},
            "/api/v1/openapi.json": {
                "get": _op("This document", {"200": {"description": "OpenAPI 3.1"}}, public=True, errors=())
            },
        },
    }
