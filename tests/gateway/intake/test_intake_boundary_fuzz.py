"""Hostile public reports, Open311 forms and queries, and hostile `intake:` sections in gateway.yaml, through the
real app and PostgreSQL: a case, or a refusal naming what is wrong; never a 5xx, never half a case."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.gateway import world as w
from tests.gateway.intake.city import Clock, run
from tests.images import jpeg
from wangge.gateway.config import GatewayConfig
from wangge.gateway.intake.config import IntakeConfig

LON, LAT = w.POINT_GRID_1
# A case without the report that opened it would be half a case.
ORPHANS = "SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_reports p WHERE p.ticket_id = t.id)"
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))  # what a form field's name can carry at all
NO_FLOOD_LIMIT = IntakeConfig.model_validate(
    {"per_address": {"limit": 100_000, "seconds": 1}, "per_browser": {"limit": 100_000, "seconds": 1}}
)
coordinates = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([LAT, LON, 22.5101, 113.9101, 0.0, -91.0, 181.0]),
    st.text(max_size=8),
    st.none(),
)
photo = st.fixed_dictionaries(
    {},
    optional={
        "content_type": st.one_of(st.sampled_from(["image/jpeg", "image/png", "image/gif"]), st.text(max_size=10)),
        "data_base64": st.one_of(
            st.just(base64.b64encode(jpeg()).decode()),
            st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
            st.text(max_size=20),
        ),
    },
)
public_bodies = st.fixed_dictionaries(
    {},
    optional={
        "service": st.one_of(st.sampled_from(["fire-lane", "garbage", "road"]), st.text(max_size=45)),
        "description": st.one_of(st.text(max_size=60), st.just("   ")),
        "lat": coordinates,
        "lon": coordinates,
        "photos": st.one_of(st.lists(photo, max_size=4), st.text(max_size=5)),
        "phone": st.one_of(st.none(), st.text(max_size=45), st.sampled_from(["13800138000", "+8613800138000"])),
        "code": st.one_of(st.none(), st.text(max_size=8), st.just("123456")),
        "address": st.one_of(st.none(), st.text(max_size=310)),
        "extra": st.integers(),
    },
)


def test_any_public_report_is_a_case_or_a_refusal_that_leaves_nothing(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any, clock: Clock) -> None:
        drawn: list[dict[str, Any]] = []

        @given(public_bodies)
        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
        def probe(body: dict[str, Any]) -> None:
            drawn.append(body)

        probe()
        accepted = 0
        for body in drawn:
            resp = await client.post("/api/v1/public/reports", json=body)
            assert resp.status in (200, 201, 400, 413, 415, 422), (body, resp.status, await resp.text())
            if resp.status >= 400:
                assert (await resp.json())["detail"], body
            else:
                accepted += 1
        async with pool.acquire() as conn:
            reports = await conn.fetchval("SELECT count(*) FROM ticket_reports")
            orphans = await conn.fetchval(ORPHANS)
        assert (reports, orphans) == (accepted, 0)  # every answer of 200/201 is one report; refusals left nothing

    run(database_url, scenario, NO_FLOOD_LIMIT)


form_fields = st.dictionaries(
    st.one_of(
        st.sampled_from(
            [
                "service_code",
                "lat",
                "long",
                "description",
                "address_string",
                "media_url",
                "phone",
                "attribute[urgent]",
                "attribute[location_detail]",
                "attribute[x]",
                "jurisdiction_id",
                "email",
            ]
        ),
        st.text(PRINTABLE, max_size=12),
    ),
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(["fire-lane", "road", str(LAT), str(LON), "yes", "no", "wangge", "https://x.example/p.jpg"]),
    ),
    max_size=8,
)


def test_any_open311_form_or_query_gets_a_request_or_a_spec_error(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any, clock: Clock) -> None:
        resp = await client.post(
            "/api/v1/open311/keys", json={"name": "fuzz", "per_minute": 100_000}, headers=world.auth("admin")
        )
        key = (await resp.json())["api_key"]
        forms: list[dict[str, str]] = []
        queries: list[str] = []

        @given(form_fields, st.sampled_from(["json", "xml"]))
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        def probe(fields: dict[str, str], fmt: str) -> None:
            forms.append({**fields, "api_key": key, "_fmt": fmt})
            queries.append(
                f"/open311/v2/requests.{fmt}?api_key={key}&"
                + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields.items())
            )

        probe()
        for fields in forms:
            fmt = fields.pop("_fmt")
            resp = await client.post(f"/open311/v2/requests.{fmt}", data=fields)
            assert resp.status in (200, 400, 403, 404, 413), (fields, resp.status, await resp.text())
            if resp.status != 200:
                text = await resp.text()
                assert ("<description>" in text) if fmt == "xml" else (await resp.json())[0]["description"], fields
        for url in queries:
            resp = await client.get(url)
            assert resp.status in (200, 400, 404), (url, resp.status, await resp.text())
        async with pool.acquire() as conn:
            orphans = await conn.fetchval(ORPHANS)
        assert orphans == 0

    run(database_url, scenario)


resident_entries = st.lists(
    st.fixed_dictionaries(
        {
            "code": st.one_of(st.text(max_size=12), st.sampled_from(["fire-lane", "noise"])),
            "category": st.one_of(
                st.text(max_size=20), st.sampled_from(["environment.garbage", "fire_safety", "nope.nope"])
            ),
        },
        optional={"zh": st.text(max_size=25), "en": st.text(max_size=45), "keywords": st.lists(st.text(max_size=5))},
    ),
    max_size=4,
)


@given(
    resident_entries,
    st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from(["verification", "sender", "sms_url", "template"]), st.text(max_size=12)),
    ),
)
@settings(max_examples=300, deadline=None)
def test_any_intake_section_is_taken_or_refused_naming_intake(entries: list[dict[str, Any]], phone: Any) -> None:
    section: dict[str, Any] = {"categories": entries}
    if phone is not None:
        section["phone"] = phone
    try:
        config = GatewayConfig.model_validate({"intake": section})
    except ValidationError as exc:
        assert "intake" in str(exc) or "categories" in str(exc)
        return
    catalogue = config.cases.catalogue()
    assert all(c.category in catalogue.entries for c in config.intake.categories)
    assert [c.code for c in config.intake.categories] == [e["code"] for e in entries]
