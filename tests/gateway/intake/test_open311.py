"""Open311 GeoReport v2 against a running gateway (a real port, a real PostgreSQL), read by the GeoReport
client from PyPI (`georeport`, which nobody here wrote) in JSON and XML. That client has no POST, so requests
are posted as the spec's form fields with `requests`, the HTTP library it is built on."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient
from georeport import GeoReport

from tests.gateway import world as w
from tests.gateway.intake.city import METRE_LAT, TO_CLOSED, Clock, run
from tests.images import jpeg

LON, LAT = w.POINT_GRID_1


def _root(client: TestClient[Any, Any], key: str) -> str:
    """The client takes the key in the URL's credentials (HTTP Basic); the spec's api_key parameter works too."""
    return f"http://o311:{key}@127.0.0.1:{client.port}/open311/v2"


async def issue(client: TestClient[Any, Any], world: w.World, name: str, region: str | None) -> tuple[int, str]:
    resp = await client.post(
        "/api/v1/open311/keys", json={"name": name, "region": region, "per_minute": 1000}, headers=world.auth("admin")
    )
    body = await resp.json()
    assert resp.status == 201, body
    return body["id"], body["api_key"]


async def get(url: str, **kwargs: Any) -> requests.Response:
    """A plain GET from another thread: the gateway under test shares this thread's event loop."""
    return await asyncio.to_thread(requests.get, url, timeout=10, **kwargs)


def post(client: TestClient[Any, Any], key: str, fmt: str = "json", files: Any = None, **fields: Any) -> Any:
    data = {"api_key": key, "jurisdiction_id": "wangge", **fields}
    return requests.post(
        f"http://127.0.0.1:{client.port}/open311/v2/requests.{fmt}", data=data, files=files, timeout=10
    )


def test_an_open311_system_lists_services_posts_a_request_and_follows_it_to_closed(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        _, east = await issue(client, world, "12345-hotline", w.STREET_EAST)
        geo = GeoReport(_root(client, east), jurisdiction="wangge")
        services = await asyncio.to_thread(geo.get_service_list)
        codes = {s["service_code"]: s for s in services}
        assert "fire-lane" in codes and codes["fire-lane"]["metadata"] is True
        definition = await asyncio.to_thread(geo.get_service_definition, "fire-lane")
        assert [a["code"] for a in definition["attributes"]] == ["location_detail", "urgent"]

        resp = await asyncio.to_thread(
            post,
            client,
            east,
            service_code="fire-lane",
            lat=LAT,
            long=LON,
            description="消防通道被占 lane blocked",
            media_url="https://hotline.example/photo/1.jpg",
            **{"attribute[urgent]": "yes", "attribute[location_detail]": "5栋北门"},
            first_name="张",
            last_name="三",
            email="z@example.com",
            phone="13900139000",
        )
        assert resp.status_code == 200, resp.text
        posted = resp.json()[0]
        request_id, token = posted["service_request_id"], posted["token"]
        assert posted["service_notice"].startswith("已受理")

        got = await asyncio.to_thread(geo.get_service_request, request_id)
        assert (got["status"], got["service_code"], got["agency_responsible"]) == ("open", "fire-lane", "消防 大队")
        assert got["address"] == "5栋北门" and got["media_url"] == "https://hotline.example/photo/1.jpg"
        assert got["lat"] == LAT and got["long"] == LON and "received" in got["status_notes"]
        operator = world.auth("c1-operator")
        ticket = await (await client.get(f"/api/v1/tickets/{request_id}", headers=operator)).json()
        assert (ticket["channel"], ticket["severity"], ticket["region_code"]) == ("open311", "major", w.GRID_1)
        assert ticket["reported_by"] == "open311:12345-hotline"
        reports = await (await client.get(f"/api/v1/tickets/{request_id}/reports", headers=operator)).json()
        kept = reports["items"][0]
        assert kept["phone"] == "13900139000" and kept["attributes"] == {"urgent": "yes", "location_detail": "5栋北门"}
        assert "张" not in str(kept) and "z@example.com" not in str(kept)  # names and e-mail are not kept

        by_token = (
            await get(f"http://127.0.0.1:{client.port}/open311/v2/tokens/{token}.json", params={"api_key": east})
        ).json()
        assert by_token == [{"service_request_id": request_id, "token": token}]

        # The same problem from another resident's call, 20 m away: the same request, not a second one.
        dup = await asyncio.to_thread(post, client, east, service_code="fire-lane", lat=LAT + 20 * METRE_LAT, long=LON)
        assert (
            dup.json()[0]["service_request_id"] == request_id and "already reported" in dup.json()[0]["service_notice"]
        )

        # A photo uploaded with the request (multipart `media`) is the request's media_url, behind the key.
        photo = await asyncio.to_thread(
            post,
            client,
            east,
            service_code="garbage",
            lat=LAT,
            long=LON,
            files={"media": ("p.jpg", jpeg(), "image/jpeg")},
        )
        garbage = photo.json()[0]["service_request_id"]
        media_url = (await asyncio.to_thread(geo.get_service_request, garbage))["media_url"]
        assert media_url.endswith("/open311/v2/media/" + media_url.rsplit("/", 1)[1])
        assert (await get(media_url)).status_code == 401
        image = await get(media_url, params={"api_key": east})
        assert (
            image.status_code == 200
            and image.content == jpeg()
            and image.headers["Cache-Control"].startswith("private")
        )
        async with pool.acquire() as conn:
            viewed = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE actor = 'open311:12345-hotline' AND kind = 'evidence.view'"
            )
        assert viewed == 1

        for who, action in TO_CLOSED:
            resp = await client.post(
                f"/api/v1/tickets/{request_id}/actions", json={"action": action, "note": "ok"}, headers=world.auth(who)
            )
            assert resp.status == 200, await resp.text()
        closed = await asyncio.to_thread(geo.get_service_request, request_id)
        assert closed["status"] == "closed" and "closed" in closed["status_notes"]
        listed = await asyncio.to_thread(geo.get_service_requests, None, None, None, None, "closed")
        assert [r["service_request_id"] for r in listed] == [request_id]
        open_ones = await asyncio.to_thread(geo.get_service_requests, None, "garbage")
        assert [r["service_request_id"] for r in open_ones] == [garbage]

        updates = (
            await get(f"http://127.0.0.1:{client.port}/open311/v2/servicerequestupdates.json", params={"api_key": east})
        ).json()
        mine = [u for u in updates if u["service_request_id"] == request_id]
        assert [u["status"] for u in mine][-1] == "closed" and len(mine) == 1 + len(TO_CLOSED)

        # XML, as the spec writes it, read by the same client.
        xml = GeoReport(_root(client, east), jurisdiction="wangge", output_format="xml")
        one = await asyncio.to_thread(xml.get_service_request, request_id)
        assert one["service_request_id"] == request_id and one["status"] == "closed"
        xml_services = await asyncio.to_thread(xml.get_service_list)
        assert "fire-lane" in [s["service_code"] for s in xml_services]

    run(database_url, scenario)


def test_a_wrong_revoked_or_out_of_region_key_is_refused(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        _, east = await issue(client, world, "east-app", w.STREET_EAST)
        west_id, west = await issue(client, world, "west-app", "990101002")  # the west street
        created = await asyncio.to_thread(post, client, east, service_code="road", lat=LAT, long=LON)
        request_id = created.json()[0]["service_request_id"]

        bad = GeoReport(_root(client, "o311_not-a-key"))
        with pytest.raises(requests.HTTPError) as refused:
            await asyncio.to_thread(bad.get_service_list)
        assert refused.value.response.status_code == 401
        assert refused.value.response.json()[0]["code"] == 401

        west_client = GeoReport(_root(client, west))
        with pytest.raises(requests.HTTPError) as hidden:
            await asyncio.to_thread(west_client.get_service_request, request_id)
        assert hidden.value.response.status_code == 404
        assert await asyncio.to_thread(west_client.get_service_requests) == []
        into_east = await asyncio.to_thread(post, client, west, service_code="road", lat=LAT, long=LON)
        assert into_east.status_code == 403 and "region" in into_east.json()[0]["description"]
        xml_error = await asyncio.to_thread(post, client, west, "xml", service_code="road", lat=LAT, long=LON)
        assert xml_error.status_code == 403 and b"<errors><error><code>403</code>" in xml_error.content

        for fields, status in (
            ({"service_code": "nope", "lat": LAT, "long": LON}, 404),
            ({"lat": LAT, "long": LON}, 400),
            ({"service_code": "road", "address_string": "somewhere"}, 400),
            ({"service_code": "road", "lat": "north", "long": LON}, 400),
            ({"service_code": "road", "lat": LAT, "long": LON, "attribute[colour]": "red"}, 400),
            ({"service_code": "road", "lat": 10, "long": 10}, 400),
        ):
            resp = await asyncio.to_thread(post, client, east, **fields)
            assert resp.status_code == status, (fields, resp.text)
        wrong_place = await get(
            f"http://127.0.0.1:{client.port}/open311/v2/services.json",
            params={"api_key": east, "jurisdiction_id": "elsewhere"},
        )
        assert wrong_place.status_code == 404

        resp = await client.delete(f"/api/v1/open311/keys/{west_id}", headers=world.auth("admin"))
        assert resp.status == 204
        with pytest.raises(requests.HTTPError) as revoked:
            await asyncio.to_thread(west_client.get_service_list)
        assert revoked.value.response.status_code == 401
        keys = await (await client.get("/api/v1/open311/keys", headers=world.auth("admin"))).json()
        assert [k["revoked_at"] is not None for k in keys["items"]] == [False, True]
        assert "api_key" not in keys["items"][0]
        assert (await client.get("/api/v1/open311/keys", headers=world.auth("district-supervisor"))).status == 403

    run(database_url, scenario)


def test_a_key_past_its_rate_gets_429(database_url: str) -> None:
    async def scenario(client: TestClient[Any, Any], world: w.World, pool: Any, clock: Clock) -> None:
        resp = await client.post(
            "/api/v1/open311/keys", json={"name": "slow", "per_minute": 3}, headers=world.auth("admin")
        )
        key = (await resp.json())["api_key"]
        auth = {"Authorization": "Basic " + base64.b64encode(f"x:{key}".encode()).decode()}
        got = [(await client.get("/open311/v2/services.json", headers=auth)).status for _ in range(5)]
        assert got == [200, 200, 200, 429, 429]
        late = await client.get("/open311/v2/services.json", headers=auth)
        assert int(late.headers["Retry-After"]) >= 1

    run(database_url, scenario)
