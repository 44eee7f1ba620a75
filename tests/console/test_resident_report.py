"""The resident's report page in headless Chromium on a 390 px phone: no account, a blocked fire lane reported with
a photo and a tap on the map; the case in the right grid's queue with its SLA light; a neighbour 30 m away joins
it; the resident rates the closed case once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.console.browser import chromium, live_gateway, open_page, screenshot, sign_in, wait_for_view
from tests.console.test_console_pages import call
from tests.gateway import world as w
from tests.images import jpeg
from tests.support import Mosquitto

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DISTRICT_BOX = (113.9, 22.5, 113.98, 22.56)  # west, south, east, north of the demo district (regions.geojson)
TAP = (113.91, 22.515)  # inside grid 990101001001001 (113.90-113.92, 22.50-22.53)


def tap_at(page: Any, lon: float, lat: float) -> None:
    """Tap the map where (lon, lat) is drawn, read off the district's outline on screen (over 0.06° the map's
    projection is linear to well under a pixel)."""
    box = page.locator(f"path.area-{w.DISTRICT}").bounding_box()
    west, south, east, north = DISTRICT_BOX
    x = box["x"] + (lon - west) / (east - west) * box["width"]
    y = box["y"] + (north - lat) / (north - south) * box["height"]
    page.touchscreen.tap(x, y)


def report_fire_lane(page: Any, description: str) -> None:
    page.locator("#choices label", has_text="消防通道堵塞").click()
    page.fill("textarea[name=description]", description)
    page.click("#submit")


def test_a_resident_reports_from_a_phone_a_neighbour_joins_and_the_result_is_rated_once(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        resident = open_page(browser.new_context(**PHONE))
        resident.goto(gw.base + "/report.html")
        wait_for_view(resident, "form")
        tap_at(resident, *TAP)
        resident.wait_for_function("document.body.dataset.point === 'set'")
        resident.set_input_files(
            "#photos", files=[{"name": "lane.jpg", "mimeType": "image/jpeg", "buffer": jpeg(shade=120)}]
        )
        resident.wait_for_selector("#previews img")
        screenshot(resident, "resident-report-form")
        report_fire_lane(resident, "消防通道被私家车堵住 Private cars block the fire lane")
        wait_for_view(resident, "reported")
        width = resident.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the report page scrolls sideways ({width}px)"
        screenshot(resident, "resident-report")
        link = resident.get_attribute("#done-link", "href")

        ticket = gw.sql(
            "SELECT t.id, t.lat, t.lon, t.channel, t.category, r.code FROM tickets t"
            " JOIN regions r ON r.id = t.region_id"
        )
        assert len(ticket) == 1
        case = ticket[0]
        assert (case["code"], case["channel"], case["category"]) == (
            w.GRID_1,
            "resident",
            "fire_safety.fire_lane_blocked",
        )
        assert abs(case["lon"] - TAP[0]) < 0.0005 and abs(case["lat"] - TAP[1]) < 0.0005  # where the finger was
        photos = gw.sql("SELECT content_type, size FROM attachments WHERE ticket_id = $1", case["id"])
        assert [p["content_type"] for p in photos] == ["image/jpeg"] and photos[0]["size"] > 0

        # The community's operator sees it in the queue with its SLA light running.
        office = open_page(browser.new_context(viewport={"width": 1400, "height": 900}))
        sign_in(office, gw.base, "c1-operator")
        wait_for_view(office, "queue")
        row = office.locator(f"tr[data-ticket-id='{case['id']}']")
        row.wait_for()
        assert row.locator(".light.green").count() == 1

        # A neighbour 30 m north, located by the phone's GPS: no second case, the same progress.
        north = case["lat"] + 30 / 111_320
        neighbour = open_page(
            browser.new_context(
                **PHONE, geolocation={"latitude": north, "longitude": case["lon"]}, permissions=["geolocation"]
            )
        )
        neighbour.goto(gw.base + "/report.html")
        wait_for_view(neighbour, "form")
        neighbour.click("#locate")
        neighbour.wait_for_function("document.body.dataset.point === 'set'")
        report_fire_lane(neighbour, "消防通道又被堵了 The fire lane is blocked")
        wait_for_view(neighbour, "joined")
        assert "已有人报告" in neighbour.locator("#done-title").inner_text()
        assert gw.sql("SELECT count(*) AS n FROM tickets")[0]["n"] == 1
        assert gw.sql("SELECT reporters FROM tickets")[0]["reporters"] == 2
        neighbour.click("#done-link")
        neighbour.wait_for_function("document.body.dataset.ready === 'progress'")
        assert neighbour.locator("#case-reporters").inner_text().startswith("共 2 人报告")

        # The operator splits the neighbour's report out (a different lane after all), then merges it back.
        office.goto(f"{gw.base}/#/ticket/{case['id']}")
        office.wait_for_function(f"document.querySelector('#ticket-title')?.dataset.ticketId === '{case['id']}'")
        wait_for_view(office, "ticket")
        assert office.locator("#reports tbody tr").count() == 2
        office.locator("#reports tbody tr").nth(1).locator("button.split").click()
        office.wait_for_function(f"document.querySelector('#ticket-title')?.dataset.ticketId !== '{case['id']}'")
        wait_for_view(office, "ticket")
        split_id = int(office.get_attribute("#ticket-title", "data-ticket-id") or 0)
        assert office.locator("#reports tbody tr").count() == 1
        assert gw.sql("SELECT reporters FROM tickets WHERE id = $1", case["id"])[0]["reporters"] == 1
        office.goto(f"{gw.base}/#/ticket/{case['id']}")
        office.wait_for_function(f"document.querySelector('#ticket-title')?.dataset.ticketId === '{case['id']}'")
        wait_for_view(office, "ticket")
        office.fill("#merge-form input[name=source]", str(split_id))
        office.click("#merge-form button[type=submit]")
        office.wait_for_selector("#reporters")
        assert office.locator("#reporters").inner_text() == "2"
        assert gw.sql("SELECT state, merged_into FROM tickets WHERE id = $1", split_id)[0]["merged_into"] == case["id"]
        screenshot(office, "ticket-reports")

        # An admin issues an Open311 key on the Accounts page; it is shown once.
        admin = open_page(browser.new_context(viewport={"width": 1400, "height": 900}))
        sign_in(admin, gw.base, "admin")
        wait_for_view(admin, "queue")
        admin.goto(gw.base + "/#/accounts")
        wait_for_view(admin, "accounts")
        admin.fill("#new-open311-key input[name=name]", "12345-hotline")
        admin.fill("#new-open311-key input[name=region]", w.STREET_EAST)
        admin.click("#new-open311-key button[type=submit]")
        admin.wait_for_function("document.querySelector('#open311-new-key').textContent.includes('o311_')")
        assert admin.locator("#open311-keys tbody tr").count() == 1
        assert gw.sql("SELECT name, region_path FROM open311_keys")[0]["name"] == "12345-hotline"

        for who, action, more in (
            ("c1-operator", "register", {}),
            ("c1-operator", "dispatch", {"department": "消防"}),
            ("c1-worker", "accept", {}),
            ("c1-worker", "handle", {}),
            ("c1-operator", "verify", {}),
            ("c1-operator", "close", {}),
        ):
            call(gw, who, "POST", f"/api/v1/tickets/{case['id']}/actions", {"action": action, **more})
        page = open_page(browser.new_context(**PHONE))
        page.goto(gw.base + str(link))
        page.wait_for_function("document.body.dataset.ready === 'progress'")
        page.check("#rating input[value=satisfied]")
        page.click("#rating button[type=submit]")
        page.wait_for_function("document.querySelector('#rating').hidden === true")
        assert gw.sql("SELECT rating FROM tickets WHERE id = $1", case["id"])[0]["rating"] == "satisfied"
        token = str(link).split("#", 1)[1]
        second = urllib.request.Request(
            f"{gw.base}/api/v1/progress/{token}/rating",
            method="POST",
            data=json.dumps({"rating": "basically"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(second, timeout=10)
            raise AssertionError("a second rating was taken")
        except urllib.error.HTTPError as err:
            assert err.code == 409
        pages = (
            ("resident", resident),
            ("neighbour", neighbour),
            ("rating", page),
            ("office", office),
            ("admin", admin),
        )
        for name, p in pages:
            assert p.script_errors == [], (name, p.script_errors)
