"""The operator console end to end in headless Chromium, against the real gateway, PostgreSQL and Mosquitto."""

from __future__ import annotations

import json
import struct
import urllib.request
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.console.browser import LiveGateway, chromium, live_gateway, open_page, screenshot, sign_in, wait_for_view
from tests.gateway import world as w
from tests.support import Mosquitto, mqtt_publisher, wait_until
from tests.test_alert_format import alert
from wangge import alert_format
from wangge.gateway.accounts.tokens import issue_token

ZONE = [[0.1, 0.5], [0.6, 0.5], [0.6, 0.95], [0.1, 0.95]]


def png(width: int = 96, height: int = 64) -> bytes:
    """A real PNG (a gradient), made here so the test needs no image library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def publish_alert(broker: Mosquitto, **changes: Any) -> dict[str, Any]:
    now = alert_format.iso(datetime.now(UTC).timestamp())
    fields: dict[str, Any] = {
        "edge_id": "demo-estate",
        "source": {"kind": "sensor", "device_id": "underpass-gauge-1", "metric": "water_level"},
        "started_at": now,
        "at": now,
        "emitted_at": now,
    }
    message = alert(**(fields | changes))
    client = mqtt_publisher(broker.url)
    try:
        client.publish("wangge/edge/demo-estate/alerts", json.dumps(message), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return message


def put_snapshot(gw: LiveGateway, alert_id: str, body: bytes) -> int:
    async def token() -> str:
        assert gw.gateway.pool is not None
        async with gw.gateway.pool.acquire() as conn:
            return await issue_token(conn, "demo-estate box", edge_id="demo-estate")

    request = urllib.request.Request(
        f"{gw.base}/api/v1/edges/demo-estate/alerts/{alert_id}/snapshot",
        method="PUT",
        data=body,
        headers={"Authorization": f"Bearer {gw.run(token())}", "Content-Type": "image/png"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return int(resp.status)


def ticket_row(page: Any, ticket: int) -> Any:
    return page.locator(f"#queue tr[data-ticket-id='{ticket}']")


def act(page: Any, action: str, **fields: str) -> None:
    page.click(f"#actions button[data-action='{action}']")
    form = page.locator(f"form.action-form[data-action='{action}']")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()


def test_an_operator_receives_a_live_alert_works_the_ticket_through_its_lights_and_closes_it(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    # The SLA job is run by the test (below) rather than by its 1-second timer: an overdue ticket is escalated
    # with a fresh clock in the same pass, so with the timer the red light could be gone before the page looks.
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw", 3600) as gw, chromium() as browser:
        other = browser.new_context(viewport={"width": 1300, "height": 850})
        other_page = open_page(other)
        sign_in(other_page, gw.base, "c2-operator")  # another community, connected the whole time
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = open_page(context)
        sign_in(page, gw.base, "c1-operator")
        wait_for_view(page, "queue")
        assert page.locator("#queue tbody tr").count() == 0

        # An alert published to the broker appears live: feed item, critical banner, queue row.
        message = publish_alert(
            mosquitto,
            severity="critical",
            title="下穿通道积水 Underpass flooding",
            attributes={"geometry": {"zones": [ZONE], "boxes": [[0.2, 0.55, 0.35, 0.9]]}},
        )
        page.wait_for_selector("#feed-list li.critical", timeout=15000)
        ticket = int(gw.sql("SELECT ticket_id FROM alerts WHERE alert_id = $1", uuid.UUID(message["alert_id"]))[0][0])
        assert page.locator("#alarm").is_visible()
        assert f"#{ticket}" in page.locator("#alarm").inner_text()
        ticket_row(page, ticket).wait_for(timeout=10000)
        assert page.locator(".chip[data-light='green']").get_attribute("data-count") == "1"
        screenshot(page, "queue-live-alert")

        # The edge sends its snapshot; the detail shows it with the rule geometry, and the view is audited.
        assert put_snapshot(gw, message["alert_id"], png()) == 201
        ticket_row(page, ticket).click()
        wait_for_view(page, "ticket")
        page.wait_for_function(
            "document.querySelector('#snapshot img') && document.querySelector('#snapshot img').naturalWidth === 96"
        )
        assert page.locator("#snapshot svg polygon.zone").count() == 1
        assert page.locator("#snapshot svg rect.box").count() == 1
        views = gw.sql("SELECT actor FROM audit_log WHERE kind = 'attachment.view'")
        assert [r["actor"] for r in views] == ["c1-operator"]
        page.wait_for_selector("#ticket-map path.leaflet-interactive")  # the ticket's marker on the mini map
        screenshot(page, "ticket-detail")

        act(page, "register")
        page.wait_for_selector("#ticket-title[data-state='registered']")
        act(page, "dispatch", department="市政排水 Drainage")
        page.wait_for_selector("#ticket-title[data-state='dispatched']")
        # Emergencies run on the wall clock: 30 minutes to accept, yellow from 80 %.
        gw.clock.move(timedelta(minutes=25))
        page.click("nav a[data-view='queue']")
        wait_for_view(page, "queue")
        page.wait_for_selector(f"#queue tr[data-ticket-id='{ticket}'] .sla[data-light='yellow']")
        screenshot(page, "queue-yellow")
        gw.clock.move(timedelta(minutes=6))
        page.click("#refresh")
        page.wait_for_selector(f"#queue tr[data-ticket-id='{ticket}'] .sla[data-light='red']")
        assert "超时" in ticket_row(page, ticket).locator(".left").inner_text()
        screenshot(page, "queue-red")
        # The SLA job marks it overdue and escalates it to the street office with a fresh clock (逐级上报): both
        # events reach the feed, and the page refreshes the row by itself (green again, at the new office).
        assert gw.escalate() == 1
        page.wait_for_selector(f"#feed-list li[data-ticket-id='{ticket}'] >> text=超时", timeout=10000)
        page.wait_for_selector(f"#feed-list li[data-ticket-id='{ticket}'] >> text=已上报", timeout=10000)
        page.wait_for_selector(f"#queue tr[data-ticket-id='{ticket}'] .sla[data-light='green']", timeout=10000)
        assert gw.sql("SELECT escalation_level FROM tickets WHERE id = $1", ticket)[0][0] == 1

        ticket_row(page, ticket).click()
        wait_for_view(page, "ticket")
        for action, after in (
            ("accept", "accepted"),
            ("handle", "handled"),
            ("verify", "verified"),
            ("close", "closed"),
        ):
            act(page, action)
            page.wait_for_selector(f"#ticket-title[data-state='{after}']")
        row = gw.sql("SELECT state, was_overdue FROM tickets WHERE id = $1", ticket)[0]
        assert (row["state"], row["was_overdue"]) == ("closed", True)
        screenshot(page, "ticket-closed")

        # The other community's operator saw none of it, live or on request.
        assert other_page.locator(f"#feed-list li[data-ticket-id='{ticket}']").count() == 0
        assert other_page.locator("#alarm").is_hidden()
        other_page.goto(f"{gw.base}/#/ticket/{ticket}")
        wait_for_view(other_page, "ticket")
        assert "不在您的辖区" in other_page.locator("#view").inner_text()
        other_page.goto(f"{gw.base}/#/queue")
        other_page.reload()
        wait_for_view(other_page, "queue")
        other_page.select_option("select[name=state]", "")
        other_page.click("form.filters button[type=submit]")
        other_page.wait_for_function("document.body.dataset.queueRows !== undefined")
        assert other_page.locator(f"#queue tr[data-ticket-id='{ticket}']").count() == 0


def test_the_feed_resumes_after_a_network_blip_without_losing_events(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        context = browser.new_context()
        page = open_page(context)
        sign_in(page, gw.base, "c1-operator")
        first = publish_alert(mosquitto, title="first")
        page.wait_for_selector("#feed-list li >> text=first", timeout=15000)
        # Drop the connection: the page goes offline, alerts arrive meanwhile, then the network comes back.
        context.set_offline(True)
        page.evaluate("window.dispatchEvent(new Event('offline'))")
        page.wait_for_function("document.body.dataset.live === 'off'", timeout=20000)
        # Three other problems at the gauge (another kind each, so three cases of their own, not one joined case).
        missed = [
            publish_alert(mosquitto, title=f"missed-{i}", rule_id=f"r{i}", category=f"devices.test_{i}")
            for i in range(3)
        ]
        wait_until(lambda: len(gw.sql("SELECT 1 FROM alerts")) == 4, 15, "the missed alerts stored")
        context.set_offline(False)
        page.wait_for_function("document.body.dataset.live === 'on'", timeout=30000)
        for m in missed:
            page.wait_for_selector(f"#feed-list li >> text={m['title']}", timeout=15000)
        ids = page.eval_on_selector_all("#feed-list li", "els => els.map(e => Number(e.dataset.eventId))")
        assert len(ids) == len(set(ids)), "an event was shown twice after the resume"
        expected = len(gw.sql("SELECT 1 FROM outbox_events WHERE region_path LIKE $1", f"%/{w.COMMUNITY_1}/%"))
        assert len(ids) == expected
        assert first["title"] == "first"
