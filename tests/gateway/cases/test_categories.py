"""The category catalogue: every code the product itself uses has a name, gateway.yaml can add and replace
entries (and is told exactly what is wrong), and a catalogued SLA or department reaches the case rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.gateway import world as w
from wangge.edge.profiles import BUILTIN as PROFILES
from wangge.edge.video.config import TamperConfig
from wangge.gateway.cases.categories import BUILTIN, Catalogue, CategoryConfig, merged
from wangge.gateway.cases.config import CasesConfig
from wangge.gateway.cases.rules import CaseRules, route
from wangge.gateway.cases.sla import StageLimit
from wangge.gateway.config import GatewayConfig
from wangge.gateway.console.config import ConsoleConfig

CATALOGUE = Catalogue.of(merged([]))


def test_every_category_the_product_raises_or_offers_has_a_name_in_both_languages() -> None:
    used = {rule.category for p in PROFILES.values() for rule in p.all_rules()}
    used |= {p.category for p in PROFILES.values()}
    used |= set(ConsoleConfig().report_categories)
    used.add(TamperConfig().category)
    assert used - set(CATALOGUE.entries) == set()
    for entry in BUILTIN:
        assert entry.zh and entry.en and entry.zh != entry.code and entry.en != entry.code


def test_names_colours_and_icons_come_from_the_entry_or_its_group() -> None:
    assert CATALOGUE.name("emergencies.water_logging") == "积水内涝"
    assert CATALOGUE.name("emergencies.water_logging", "en") == "Water logging"
    assert CATALOGUE.both("fire_safety.fire_lane_blocked") == "消防通道占用 Fire lane blocked"
    assert CATALOGUE.colour("emergencies.fire") == "#d7263d" == CATALOGUE.colour("emergencies")
    assert CATALOGUE.icon("environment.garbage") == "♻"
    # An edge's own code: its nearest catalogued group and its last part, never the bare dotted code.
    assert CATALOGUE.name("emergencies.sink_hole") == "紧急事件 · sink hole"
    assert CATALOGUE.name("emergencies.sink_hole.deep", "en") == "Emergencies · deep"
    assert CATALOGUE.name("waterworks.burst_main") == "burst main"
    listed = {c["code"]: c for c in CATALOGUE.describe()}
    assert listed["streets.road_damage"] == {
        "code": "streets.road_damage",
        "zh": "道路破损",
        "en": "Road damage",
        "parent": "streets",
        "colour": "#f46036",
        "icon": "⛔",
    }
    assert listed["streets"]["parent"] is None


def test_gateway_yaml_adds_and_replaces_categories() -> None:
    custom = [
        CategoryConfig(code="waterworks", zh="供水", en="Water supply", colour="#0077b6"),
        CategoryConfig(code="waterworks.burst_main", zh="爆管", en="Burst main"),
        CategoryConfig(code="emergencies.fire", zh="火灾", en="Fire", icon="🔥"),
    ]
    catalogue = Catalogue.of(merged(custom))
    assert catalogue.name("waterworks.burst_main") == "爆管" and catalogue.colour("waterworks.burst_main") == "#0077b6"
    assert catalogue.name("emergencies.fire") == "火灾" and catalogue.icon("emergencies.fire") == "🔥"
    assert len(catalogue.entries) == len(BUILTIN) + 2


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([{"code": "Water Works", "zh": "供水", "en": "Water"}], "is not a category code"),
        ([{"code": "waterworks.burst", "zh": "爆管", "en": "Burst"}], "needs its group 'waterworks'"),
        ([{"code": "devices", "zh": "设备", "en": "Devices", "colour": "grey"}], "is not a colour"),
        ([{"code": "devices", "zh": "", "en": "Devices"}], "at least 1 character"),
        ([{"code": "devices", "zh": "设备", "en": "Devices", "sla": {"fix": "1h"}}], "unknown stage 'fix'"),
        ([{"code": "devices", "zh": "设备", "en": "D"}, {"code": "devices", "zh": "设", "en": "D"}], "listed twice"),
    ],
)
def test_a_bad_catalogue_is_refused_naming_what_and_where(entries: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        GatewayConfig.model_validate({"cases": {"categories": entries}})
    text = str(caught.value)
    assert "cases.categories" in text and says in text


def test_a_catalogued_sla_and_department_reach_the_case_rules_unless_configured_explicitly() -> None:
    config = CasesConfig.model_validate(
        {
            "categories": [
                {"code": "waterworks", "zh": "供水", "en": "Water supply", "department": "水务集团"},
                {
                    "code": "waterworks.burst_main",
                    "zh": "爆管",
                    "en": "Burst main",
                    "clock": "wall",
                    "sla": {"handle": "2h"},
                },
                {"code": "emergencies.fire", "zh": "火情", "en": "Fire", "department": "消防", "sla": {"handle": "9h"}},
            ],
            "sla": [{"category": "emergencies.fire", "limits": {"handle": "1h"}}],
            "routes": [{"category": "emergencies.fire", "department": "应急管理局"}],
        }
    )
    rules = CaseRules.from_config(config)
    policies = {p.category: p for p in rules.policies}
    assert policies["waterworks.burst_main"].clock == "wall"
    assert policies["waterworks.burst_main"].limits["handle"] == StageLimit(2, "h")
    assert policies["emergencies.fire"].limits["handle"] == StageLimit(1, "h")  # `sla:` wins over the catalogue
    fire = route(rules, "emergencies.fire", "/44/4403/")
    burst = route(rules, "waterworks.burst_main", "/44/4403/")
    assert fire is not None and fire.department == "应急管理局"  # the explicit route wins
    assert burst is not None and burst.department == "水务集团"  # the group's department, by prefix


def test_the_api_lists_the_catalogue_and_the_console_gets_it_with_its_settings(database_url: str) -> None:
    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        auth = world.auth("c1-worker")
        assert (await client.get("/api/v1/categories")).status == 401
        resp = await client.get("/api/v1/categories", headers=auth)
        assert resp.status == 200
        listed = {c["code"]: c for c in (await resp.json())["categories"]}
        assert listed["waterworks"] == {
            "code": "waterworks",
            "zh": "供水",
            "en": "Water",
            "parent": None,
            "colour": None,
            "icon": None,
        }
        assert len(listed) == len(BUILTIN) + 1
        settings = await (await client.get("/api/v1/console/config", headers=auth)).json()
        assert {c["code"] for c in settings["categories"]} == set(listed)

    config = CasesConfig.model_validate({"categories": [{"code": "waterworks", "zh": "供水", "en": "Water"}]})
    w.run_api(database_url, scenario, rules=CaseRules.from_config(config))
