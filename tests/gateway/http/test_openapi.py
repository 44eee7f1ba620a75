"""The API document is generated from the route table: it is a valid OpenAPI 3.1 document, names exactly the
routes the app serves, types every body and parameter, and is committed as docs/openapi.json."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.contract import check_response
from tests.support import REPO
from wangge.gateway.http.app import create_app
from wangge.gateway.http.openapi import document, document_text

METHODS = {"get", "post", "put", "patch", "delete"}


def test_the_document_is_valid_openapi() -> None:
    validate(document())  # raises on any violation of the OpenAPI 3.1 schema


def test_the_document_names_exactly_the_routes_the_app_serves() -> None:
    app = create_app(pool=None, ready_checks={})  # type: ignore[arg-type]
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and not route.resource.canonical.startswith("/static")
        and route.resource.canonical not in ("/", "/progress.html", "/report.html")
    }
    documented = {(m.upper(), p) for p, ops in document()["paths"].items() for m in ops if m in METHODS}
    assert documented == served
    assert ("GET", "/api/v1/tickets") in served and len(served) >= 30


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_json_body_and_reply_is_a_typed_object() -> None:
    """No bare `{"type": "object"}`: every JSON response and request body (or each item of a list) names its
    fields."""
    doc = document()
    loose = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            bodies = [("request", op["requestBody"]["content"])] if "requestBody" in op else []
            bodies += [(status, r.get("content", {})) for status, r in op["responses"].items()]
            for where, content in bodies:
                schema = content.get("application/json", {}).get("schema")
                if schema is None:
                    continue
                resolved = _resolve(doc, schema)
                if resolved.get("type") == "array":  # Open311 answers with lists, as its spec says
                    resolved = _resolve(doc, resolved["items"])
                if not (resolved.get("properties") or resolved.get("oneOf")):
                    loose.append(f"{method} {path} {where}")
    assert loose == []


def test_response_models_forbid_fields_they_do_not_name() -> None:
    doc = document()
    ticket = doc["components"]["schemas"]["Ticket"]
    assert ticket["additionalProperties"] is False and "light" in ticket["required"]
    page = doc["paths"]["/api/v1/tickets"]["get"]
    names = {p["name"] for p in page["parameters"]}
    assert {"state", "light", "category", "region", "q", "source", "since", "until", "mine", "sort", "limit"} <= names
    state = next(p for p in page["parameters"] if p["name"] == "state")
    assert (state["style"], state["explode"], state["schema"]["type"]) == ("form", False, "array")


def test_docs_openapi_json_is_the_generated_document() -> None:
    committed = (REPO / "docs" / "openapi.json").read_text("utf-8")
    assert json.loads(committed) == json.loads(document_text()), "docs/openapi.json is stale: run `make openapi`"
    assert committed == document_text(), "docs/openapi.json is stale: run `make openapi`"


ME = {"name": "li", "role": "operator", "scope": "/990101/", "edge_id": None}


def test_the_contract_check_refuses_an_undeclared_field_a_wrong_type_and_an_undocumented_status() -> None:
    def check(status: int, body: dict[str, Any], media: str = "application/json") -> None:
        check_response("GET", "http://127.0.0.1/api/v1/me", status, media, json.dumps(body).encode())

    check(200, ME)  # as documented
    check(401, {"type": "about:blank", "title": "Unauthorized", "status": 401}, "application/problem+json")
    with pytest.raises(AssertionError, match="breaks the API document"):
        check(200, {**ME, "password_hash": "x"})
    with pytest.raises(AssertionError, match="breaks the API document"):
        check(200, {**ME, "scope": 7})
    with pytest.raises(AssertionError, match="breaks the API document"):
        check(418, ME)
