"""The HTTP API against a real PostgreSQL, through aiohttp's own test server."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.gateway.ingest.test_ingest_db import ingest
from tests.gateway.world import World, run_api
from tests.test_alert_format import alert
from wangge.gateway.http.app import create_app
from wangge.gateway.storage.pool import create_pool

Scenario = Callable[[TestClient[Any, Any], dict[str, str], Any], Awaitable[None]]


def with_api(database_url: str, scenario: Scenario) -> None:
    """The API as the admin (run_api, with the admin's headers)."""

    async def as_admin(client: TestClient[Any, Any], world: World, pool: Any) -> None:
        await scenario(client, world.auth("admin"), pool)

    run_api(database_url, as_admin)


def test_requests_without_a_valid_token_are_refused_as_problems(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], auth: dict[str, str], pool: Any) -> None:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            resp = await client.get("/api/v1/tickets", headers=headers)
            assert resp.status == 401
            assert resp.content_type == "application/problem+json"
            body = await resp.json()
            assert body["status"] == 401 and body["detail"]
        await pool.execute("UPDATE api_tokens SET revoked_at = now()")
        assert (await client.get("/api/v1/tickets", headers=auth)).status == 401

    with_api(database_url, scenario)


def test_ticket_list_detail_filters_and_cursor_pages(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], auth: dict[str, str], pool: Any) -> None:
        async with pool.acquire() as conn:
            for i in range(5):
                await ingest(conn, alert(source={"kind": "sensor", "device_id": f"g{i}"}, title=f"Water at g{i}"))
            await ingest(conn, alert(rule_id="lift", category="emergencies.elevator_entrapment", title="Lift"))
        seen: list[int] = []
        cursor = None
        while True:
            url = "/api/v1/tickets?state=open&category=emergencies.water_logging&limit=2&sort=newest"
            resp = await client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=auth)
            assert resp.status == 200
            body = await resp.json()
            seen += [t["id"] for t in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 5 and len(set(seen)) == 5 and seen == sorted(seen, reverse=True)
        resp = await client.get("/api/v1/tickets?category=emergencies", headers=auth)
        assert len((await resp.json())["items"]) == 6
        resp = await client.get("/api/v1/tickets?q=lif", headers=auth)
        [lift] = (await resp.json())["items"]
        detail = await (await client.get(f"/api/v1/tickets/{lift['id']}", headers=auth)).json()
        assert [a["rule_id"] for a in detail["alerts"]] == ["lift"]
        assert [e["kind"] for e in detail["events"]] == ["ticket.opened", "alert.start"]
        assert detail["alerts"][0]["payload"]["title"] == "Lift"

    with_api(database_url, scenario)


def test_bad_parameters_and_missing_tickets_are_problems_naming_the_parameter(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], auth: dict[str, str], pool: Any) -> None:
        resp = await client.get("/api/v1/tickets?limit=0&cursor=%%%", headers=auth)
        assert resp.status == 400 and resp.content_type == "application/problem+json"
        body = await resp.json()
        assert [p["name"] for p in body["invalid_params"]] == ["limit"]
        resp = await client.get("/api/v1/tickets?cursor=garbage", headers=auth)
        assert resp.status == 400 and (await resp.json())["invalid_params"][0]["name"] == "cursor"
        resp = await client.get("/api/v1/tickets/999", headers=auth)
        assert resp.status == 404 and (await resp.json())["detail"] == "no ticket 999"
        resp = await client.get("/api/v1/tickets/abc", headers=auth)
        assert resp.status == 400
        resp = await client.get("/api/v1/nothing-here", headers=auth)
        assert resp.status == 404 and resp.content_type == "application/problem+json"

    with_api(database_url, scenario)


def test_openapi_documents_every_route_and_health_endpoints_answer(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], auth: dict[str, str], pool: Any) -> None:
        doc = await (await client.get("/api/v1/openapi.json")).json()
        documented = set(doc["paths"])
        routes = {r.resource.canonical for r in client.app.router.routes() if r.resource is not None}
        pages = {"/", "/progress.html", "/report.html", "/static"}  # the console, the resident's pages, their files
        assert routes - pages == documented
        assert (await client.get("/healthz")).status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200 and (await ready.json())["checks"] == {"database": True, "broker": True}
        metrics = await (await client.get("/metrics")).text()
        assert "wangge_gateway_tickets_opened_total" in metrics
        page = await (await client.get("/")).text()
        assert '<script type="module" src="/static/console/app.js">' in page
        script = await client.get("/static/console/app.js")
        assert script.status == 200 and "/api/v1/tickets" in await script.text()
        leaflet = await client.get("/static/vendor/leaflet/leaflet.js")  # served locally, no CDN
        assert leaflet.status == 200 and "Leaflet" in (await leaflet.text())[:500]

    with_api(database_url, scenario)


def test_readyz_fails_when_the_broker_is_down(database_url: str) -> None:
    async def run() -> None:
        pool = await create_pool(database_url)
        app = create_app(pool, {"broker": lambda: False})
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/readyz")
            assert resp.status == 503
            body = json.loads(await resp.text())
            assert body["detail"] == "not reachable: broker"
        await pool.close()

    asyncio.run(run())


def test_every_response_carries_the_security_headers_and_public_bodies_are_small(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], auth: dict[str, str], pool: Any) -> None:
        for path, headers in (("/", {}), ("/static/console/app.js", {}), ("/api/v1/tickets", auth),
                              ("/api/v1/tickets", {}), ("/api/v1/nothing", auth), ("/healthz", {})):  # fmt: skip
            resp = await client.get(path, headers=headers)
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
            assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0], path
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
            assert resp.headers["Referrer-Policy"] == "no-referrer", path
            assert resp.headers["X-Frame-Options"] == "DENY", path
        big = {"username": "admin", "password": "x" * 20_000}
        resp = await client.post("/api/v1/auth/login", json=big)
        assert resp.status == 413 and resp.content_type == "application/problem+json"
        resp = await client.post(
            "/api/v1/progress/whatever/rating", json={"rating": "satisfied", "comment": "x" * 9000}
        )
        assert resp.status == 413

    with_api(database_url, scenario)
