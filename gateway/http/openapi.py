"""The OpenAPI 3.1 document, generated from the route table and its models.

`python -m wangge.gateway.http.openapi` prints it; `docs/openapi.json` is that output, and a test fails when
the file is stale (`make openapi` rewrites it)."""

from __future__ import annotations

import copy
import json
import re
import sys
from importlib import resources
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from wangge.gateway.http.routes import ALL
from wangge.gateway.http.schemas.common import Problem
from wangge.gateway.http.spec import Operation

REF = "#/components/schemas/{model}"
PROBLEM_MEDIA = "application/problem+json"
_TITLES = {
    400: "the request is malformed (each bad parameter is named)",
    401: "no valid token",
    403: "the caller may not do this",
    404: "no such thing in the caller's area",
    409: "the thing is not in a state that allows this",
    413: "the body is too large",
    415: "wrong Content-Type",
    422: "the body is well-formed but not acceptable (each bad field is named)",
    503: "a dependency is not reachable",
}


def _alert_schemas() -> dict[str, Any]:
    """The alert wire format (schemas/alert.v1.schema.json) as components, its $defs hoisted beside it."""
    raw = json.loads(resources.files("wangge.schemas").joinpath("alert.v1.schema.json").read_text("utf-8"))
    defs = raw.pop("$defs", {})
    for key in ("$schema", "$id"):
        raw.pop(key, None)
    text = json.dumps({"AlertEvent": raw, **{f"AlertEvent_{k}": v for k, v in defs.items()}})
    text = re.sub(r'"#/\$defs/([A-Za-z0-9_]+)"', r'"#/components/schemas/AlertEvent_\1"', text)
    out: dict[str, Any] = json.loads(text)
    out["AlertEvents"] = {
        "description": "One alert event, or a batch of them",
        "oneOf": [
            {"$ref": REF.format(model="AlertEvent")},
            {
                "type": "object",
                "required": ["alerts"],
                "additionalProperties": False,
                "properties": {
                    "alerts": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"$ref": REF.format(model="AlertEvent")},
                    }
                },
            },
        ],
    }
    return out


def _operations() -> list[Operation]:
    return [op for table in ALL for op in table.operations]


def _parameters(model: type[BaseModel], where: str, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = copy.deepcopy(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required}
        if description:
            param["description"] = description
        if prop.get("type") == "array":
            param.update(style="form", explode=False)  # comma-separated
        param["schema"] = prop
        out.append(param)
    return out


def _operation(op: Operation, names: dict[type[BaseModel], str], schemas: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    params = []
    if op.path_params is not None:
        params += _parameters(op.path_params, "path", schemas)
    if op.query is not None:
        params += _parameters(op.query, "query", schemas)
    if params:
        doc["parameters"] = params
    if op.body is not None:
        if op.body.model is not None:
            content = {"application/json": {"schema": {"$ref": REF.format(model=names[op.body.model])}}}
        elif op.body.schema_name is not None:
            content = {m: {"schema": {"$ref": REF.format(model=op.body.schema_name)}} for m in op.body.media_types}
        else:
            content = {m: {"schema": {"type": "string", "format": "binary"}} for m in op.body.media_types}
        doc["requestBody"] = {"required": True, "content": content}
    responses: dict[str, Any] = {}
    for reply in op.replies:
        answer: dict[str, Any] = {"description": reply.description}
        if reply.model is not None:
            answer["content"] = {"application/json": {"schema": {"$ref": REF.format(model=names[reply.model])}}}
        elif reply.media_type is not None:
            answer["content"] = {reply.media_type: {}}
        responses[str(reply.status)] = answer
    for status in op.errors:
        responses[str(status)] = {
            "description": _TITLES.get(status, "error"),
            "content": {PROBLEM_MEDIA: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
    doc["responses"] = responses
    if op.public:
        doc["security"] = []
    return doc


def document() -> dict[str, Any]:
    ops = _operations()
    models: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for op in ops:
        if op.body is not None and op.body.model is not None:
            models.append((op.body.model, "validation"))
        models += [(r.model, "serialization") for r in op.replies if r.model is not None]
    unique = list(dict.fromkeys(models))
    key_map, top = models_json_schema(unique, ref_template=REF)
    names = {model: key_map[(model, mode)]["$ref"].rsplit("/", 1)[1] for model, mode in unique}
    schemas: dict[str, Any] = {**top.get("$defs", {}), **_alert_schemas()}
    paths: dict[str, Any] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, names, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wangge gateway API",
            "version": "1",
            "description": "Tickets raised from edge alerts and reports. Sign in with POST /api/v1/auth/login "
            "and send `Authorization: Bearer <token>`. Errors are RFC 9457 problem documents. "
            "Every list is limited to the caller's region subtree.",
        },
        "tags": [{"name": table.tag} for table in ALL],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": dict(sorted(schemas.items())),
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def document_text() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document_text())
