"""The console's other pages in headless Chromium: map, devices, statistics, the grid worker's phone view, the
resident's progress page, English, and the queue with 10,000 open tickets."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.console.browser import LiveGateway, chromium, live_gateway, open_page, screenshot, sign_in, wait_for_view
from tests.console.test_console_browser import png, publish_alert, put_snapshot
from tests.gateway import world as w
from tests.support import Mosquitto, http_json, mqtt_publisher, wait_until
from wangge.gateway.cases import registry


def call(gw: LiveGateway, who: str, method: str, path: str, body: Any = None) -> Any:
    assert gw.world is not None
    request = urllib.request.Request(
        gw.base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={**gw.world.auth(who), "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def add_camera(gw: LiveGateway) -> None:
    async def go() -> None:
        assert gw.gateway.pool is not None
        async with gw.gateway.pool.acquire() as conn:
            await registry.import_devices(
                conn,
                "kind,id,edge_id,name,region_code,lat,lon,parent\n"
                f"camera,gate-cam-1,demo-estate,东门摄像头 East gate camera,{w.GRID_1},22.5105,113.9102,\n",
            )

    gw.run(go())


def test_map_devices_statistics_and_english(database_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        add_camera(gw)
        flood = publish_alert(mosquitto, severity="major", title="积水 Water on the road")
        camera = publish_alert(
            mosquitto,
            source={"kind": "camera", "device_id": "gate-cam-1"},
            rule_id="fire-lane",
            category="fire_safety.fire_lane_blocked",
            title="消防通道占用 Fire lane blocked",
            attributes={"geometry": {"zones": [[[0.2, 0.2], [0.8, 0.2], [0.8, 0.8]]]}},
        )
        wait_until(lambda: len(gw.sql("SELECT 1 FROM tickets")) == 2, 15, "two tickets")
        assert put_snapshot(gw, camera["alert_id"], png()) == 201
        client = mqtt_publisher(mosquitto.url)
        status = {
            "edge_id": "demo-estate",
            "state": "online",
            "devices": {"gate-cam-1": {"state": "degraded", "fps": 3.5}},
        }
        client.publish("wangge/edge/demo-estate/status", json.dumps(status), qos=1, retain=True).wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        wait_until(lambda: gw.sql("SELECT state FROM edges")[:1] != [], 15, "the edge status stored")

        # The command centre's own time zone (the gateway's cases.timezone): a picked date is a local day there.
        page = open_page(browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="Asia/Shanghai"))
        sign_in(page, gw.base, "district-supervisor")
        page.goto(gw.base + "/#/map")
        wait_for_view(page, "map")
        placed = len(gw.sql("SELECT 1 FROM tickets WHERE closed_at IS NULL AND lat IS NOT NULL"))
        assert placed == 2
        assert page.evaluate("document.body.dataset.mapMarkers") == str(placed)
        assert page.locator("#map path.marker-green").count() == placed
        regions = len(gw.sql("SELECT 1 FROM regions WHERE geometry IS NOT NULL"))
        cameras = len(gw.sql("SELECT 1 FROM devices WHERE kind = 'camera' AND lat IS NOT NULL"))
        assert cameras >= 1 and page.locator("#map path.camera-marker").count() == cameras
        assert page.evaluate("document.body.dataset.mapCameras") == str(cameras)
        assert page.locator("#map path.leaflet-interactive").count() == regions + placed + cameras
        screenshot(page, "map")

        page.click("nav a[data-view='devices']")
        wait_for_view(page, "devices")
        cam = page.locator("#devices tr[data-device-id='gate-cam-1']")
        assert "degraded" in (cam.locator(".device-state").get_attribute("class") or "")
        assert "3.5" in cam.inner_text()
        assert "online" in (
            page.locator("#edges tr[data-edge-id='demo-estate'] .device-state").get_attribute("class") or ""
        )
        cam.click()
        page.wait_for_function("(document.querySelector('#device-snapshot img') || {}).naturalWidth === 96")
        audited = gw.sql("SELECT actor, data->>'device_id' AS device FROM audit_log WHERE kind = 'attachment.view'")
        assert [(r["actor"], r["device"]) for r in audited] == [("district-supervisor", "gate-cam-1")]
        screenshot(page, "devices")

        page.click("nav a[data-view='stats']")
        wait_for_view(page, "stats")
        hot = page.locator("#chart-hotspots g.row")
        labels = "rows => rows.map(r => r.dataset.label)"
        assert sorted(hot.evaluate_all(labels)) == sorted(["积水内涝", "消防通道占用"])  # names, never codes
        shares = page.locator("#chart-hotspots rect.bar:not(.prev)").evaluate_all(
            "bars => bars.map(b => Number(b.dataset.value))"
        )
        assert shares == [0.5, 0.5]
        green = page.locator("#chart-lights rect.green").get_attribute("data-value")
        assert green == "2"
        opened = page.locator("#chart-series g.series.opened circle")
        points = opened.count()
        assert points in (30, 31)  # the last 30 days: a bucket per local day touched
        assert page.locator("#chart-series circle").count() == 3 * points  # opened, closed, overdue
        assert sum(int(v) for v in opened.evaluate_all("cs => cs.map(c => c.dataset.value)")) == 2
        today = page.evaluate("new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 10)")  # Asia/Shanghai
        assert opened.last.get_attribute("data-bucket") == today and opened.last.get_attribute("data-value") == "2"
        groups = page.locator("#chart-groups g.series").evaluate_all("gs => gs.map(g => g.dataset.key)")
        assert sorted(groups) == ["emergencies", "fire_safety"]
        # The indicators: the total and one street (both tickets are in the east street), neither registered yet.
        table = page.locator("#indicator-table tbody tr")
        assert table.count() == 2
        total = table.first
        assert total.locator("td").first.inner_text() == "2"
        assert total.locator("td[data-rate=register_rate]").inner_text().startswith("0.0%")  # 0 of 2
        assert total.locator("td[data-rate=satisfaction_rate]").inner_text().startswith("—")  # nobody rated
        assert table.nth(1).locator("th").inner_text() == "东街道 East Street"
        with page.expect_download() as download:
            page.click("#indicators-xlsx")
        sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True).active
        assert sheet is not None
        cells = list(sheet.iter_rows(values_only=True))
        assert gw.world is not None  # the API's default period is the view's: the last 30 days
        _, api = http_json(gw.base + "/api/v1/stats/indicators", token=gw.world.tokens["district-supervisor"])
        assert [row[0] for row in cells] == ["区域 Region", "合计 Total", "东街道 East Street"]
        assert cells[1][1] == api["total"]["current"]["counts"]["reported"] == 2
        assert cells[1][2] == api["total"]["current"]["rates"]["register_rate"] == 0.0
        assert cells[2][1] == api["rows"][0]["current"]["counts"]["reported"]
        screenshot(page, "statistics")
        page.fill("#stats-period input[name=since]", "2026-11-02")
        page.fill("#stats-period input[name=until]", "2026-11-15")
        page.select_option("#stats-period select[name=interval]", "week")
        page.select_option("#stats-period select[name=by]", "department")
        page.click("#stats-period button[type=submit]")
        page.wait_for_function("location.hash === '#/stats/2026-11-02~2026-11-15~week~department'")
        wait_for_view(page, "stats")
        assert page.locator("#indicators-department").count() == 1  # the indicator rows are departments now
        weeks = page.locator("#chart-series g.series.opened circle")
        page.wait_for_function("document.querySelectorAll('#chart-series g.series.opened circle').length === 2")
        assert weeks.evaluate_all("cs => cs.map(c => c.dataset.bucket)") == ["2026-11-02", "2026-11-09"]
        # 周报 of this week (the tickets are today's), printable: the page alone, without the console around it.
        monday = page.evaluate(
            "(() => { const d = new Date(Date.now() + 8 * 3600000);"
            " d.setUTCDate(d.getUTCDate() - (d.getUTCDay() + 6) % 7); return d.toISOString().slice(0, 10); })()"
        )
        page.goto(gw.base + f"/#/report/{monday}")
        wait_for_view(page, "report")
        assert page.locator("#report-title").get_attribute("data-week") == monday
        rows = page.locator("#hotspot-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.category)")
        assert sorted(rows) == ["emergencies.water_logging", "fire_safety.fire_lane_blocked"]
        assert "消防通道占用" in page.locator("#hotspot-table").inner_text()  # names, not codes
        assert page.locator("#indicator-table tbody tr").count() == 2  # the total and the east street
        departments = page.locator("#indicator-table-department tbody th").all_inner_texts()
        assert departments[0] == "合计" and len(departments) == 2  # the total, then the one department row
        assert page.locator("#overdue-table tbody tr").count() == 0  # nothing is late yet
        page.emulate_media(media="print")
        assert not page.locator("#top").is_visible() and not page.locator("#report-print").is_visible()
        assert not page.locator("#feed").is_visible()
        assert page.locator("#hotspot-table").is_visible()
        screenshot(page, "weekly-report-print")
        page.emulate_media(media="screen")
        page.goto(gw.base + "/#/stats")
        wait_for_view(page, "stats")

        page.click("#lang")
        wait_for_view(page, "stats")
        assert page.locator("nav a[data-view='queue']").inner_text() == "Queue"
        assert page.locator("#chart-lights h2").inner_text() == "Open tickets by light"
        assert sorted(page.locator("#chart-hotspots g.row").evaluate_all(labels)) == [
            "Fire lane blocked",
            "Water logging",
        ]
        page.click("nav a[data-view='queue']")
        wait_for_view(page, "queue")
        cells = page.locator("#queue td.category").all_inner_texts()
        assert sorted(cells) == ["Fire lane blocked", "Water logging"]
        page.select_option("form.filters select[name=category]", "fire_safety")  # a group filters by prefix
        page.click("form.filters button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#queue td.category').length === 1")
        assert page.locator("#queue td.category").inner_text() == "Fire lane blocked"
        with page.expect_download() as download:  # the filtered list as a workbook for the weekly meeting
            page.click("#export-xlsx")
        assert download.value.suggested_filename.endswith(".xlsx")
        sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert len(rows) == 2 and rows[1][1] == "消防通道占用 Fire lane blocked"  # the header and the one filtered
        assert page.evaluate("document.documentElement.lang") == "en"
        assert flood["title"].startswith("积水")


def test_grid_worker_reports_from_a_phone_and_the_resident_rates_the_result(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = open_page(phone)
        sign_in(page, gw.base, "c1-worker")
        wait_for_view(page, "worker")
        assert page.locator("nav a[data-view='devices']").is_hidden()  # not an office role
        options = page.locator("#report select[name=category] option[value='environment.garbage']")
        assert options.inner_text() == "垃圾满溢"  # the worker picks a name; the code is what is sent
        page.select_option("#report select[name=category]", "environment.garbage")
        page.fill("#report textarea[name=text]", "3号楼垃圾满溢 Bins overflowing at building 3")
        page.set_input_files(
            "#report input[name=photo]", files=[{"name": "bins.png", "mimeType": "image/png", "buffer": png()}]
        )
        lon, lat = w.POINT_GRID_1
        page.fill("#report input[name=lat]", str(lat))
        page.fill("#report input[name=lon]", str(lon))
        page.click("#report button[type=submit]")
        page.wait_for_selector("#progress-link")
        ticket = gw.sql("SELECT id, reported_by, category FROM tickets")[0]
        assert (ticket["reported_by"], ticket["category"]) == ("c1-worker", "environment.garbage")
        photos = gw.sql("SELECT content_type, size FROM attachments WHERE ticket_id = $1", ticket["id"])
        assert [(p["content_type"], p["size"]) for p in photos] == [("image/png", len(png()))]
        page.wait_for_selector(f"#my-reports a[data-ticket-id='{ticket['id']}']")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the phone view scrolls sideways ({width}px)"
        screenshot(page, "worker-phone")

        progress = page.get_attribute("#progress-link", "href")
        resident = open_page(browser.new_context(viewport={"width": 390, "height": 844}))
        resident.goto(gw.base + str(progress))
        resident.wait_for_function("document.body.dataset.ready === 'progress'")
        assert resident.get_attribute("#case-state", "data-state") == "reported"
        assert resident.locator("#case-category").inner_text() == "垃圾满溢 · Garbage overflowing"
        assert resident.locator("#rating").is_hidden()
        tid = ticket["id"]
        call(gw, "c1-operator", "POST", f"/api/v1/tickets/{tid}/actions", {"action": "register"})
        call(gw, "c1-operator", "POST", f"/api/v1/tickets/{tid}/actions", {"action": "dispatch", "department": "环卫"})
        for action in ("accept", "handle", "verify", "close"):
            call(gw, "c1-operator", "POST", f"/api/v1/tickets/{tid}/actions", {"action": action})
        resident.reload()
        resident.wait_for_function("document.body.dataset.ready === 'progress'")
        assert resident.get_attribute("#case-state", "data-state") == "closed"
        history = resident.locator("#history li").all_inner_texts()
        assert len(history) == 7 and "c1-operator" not in " ".join(history)  # no names on the resident's page
        resident.check("#rating input[value=not_satisfied]")
        resident.fill("#rating textarea[name=comment]", "还是满的 Still full")
        resident.click("#rating button[type=submit]")
        resident.wait_for_function("document.querySelector('#case-state').dataset.state === 'reopened'")
        assert gw.sql("SELECT state, rating FROM tickets WHERE id = $1", tid)[0]["rating"] == "not_satisfied"
        screenshot(resident, "resident-progress")


def seed_open_tickets(gw: LiveGateway, n: int) -> None:
    """n open tickets in community 1, a third overdue, a third in the yellow band, a third with time left."""
    gw.sql(
        "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
        " opened_at, updated_at, due_at, yellow_at, lat, lon)"
        " SELECT 'bulk/' || i, 'environment.garbage', 'minor', '垃圾 bulk ' || i, 'report', r.id, r.path,"
        " 'registered', now() - interval '2 hours', now(),"
        " CASE i % 3 WHEN 0 THEN now() - interval '1 hour' - i * interval '1 second'"
        "  WHEN 1 THEN now() + interval '1 hour' + i * interval '1 second'"
        "  ELSE now() + interval '2 hours' + i * interval '1 second' END,"
        " CASE i % 3 WHEN 0 THEN now() - interval '2 hours' WHEN 1 THEN now() - interval '1 hour'"
        "  ELSE now() + interval '1 hour' END, 22.51, 113.91"
        " FROM generate_series(1, $1) i, regions r WHERE r.code = $2",
        n,
        w.GRID_1,
    )


def test_the_queue_with_ten_thousand_open_tickets(database_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        seed_open_tickets(gw, 10_000)
        page = open_page(browser.new_context(viewport={"width": 1400, "height": 900}))
        sign_in(page, gw.base, "c1-operator")
        wait_for_view(page, "queue")
        counts = {
            light: int(page.get_attribute(f".chip[data-light='{light}']", "data-count") or -1)
            for light in ("red", "yellow", "green", "none")
        }
        assert counts == {"red": 3333, "yellow": 3334, "green": 3333, "none": 0}
        assert page.locator("#queue tbody tr").count() == 200
        lights = page.locator("#queue .sla").evaluate_all("cells => cells.map(c => c.dataset.light)")
        assert set(lights) == {"red"}  # the most overdue first
        due = page.locator("#queue .sla").evaluate_all("cells => cells.map(c => Date.parse(c.dataset.due))")
        assert due == sorted(due)
        page.click("#queue ~ button:has-text('加载更多')")
        page.wait_for_function("document.body.dataset.queueRows === '400'")
        screenshot(page, "queue-10k")
        print("queue page load with 10,000 open tickets:", page.evaluate("document.body.dataset.queueMs"), "ms")


def test_console_runs_under_its_own_csp(database_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    """With the Content-Security-Policy in force (no inline script, no eval), the console signs in, gets its
    live feed and draws its pages, and the browser reports no violation."""
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        publish_alert(mosquitto, severity="major", title="积水 Water on the road")
        wait_until(lambda: len(gw.sql("SELECT 1 FROM tickets")) == 1, 15, "the ticket")
        page = open_page(browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=False))
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(gw.base + "/")
        page.fill("input[name=username]", "district-supervisor")
        page.fill("input[name=password]", "password-district-supervisor")
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("body[data-live=on]", timeout=15000)
        page.wait_for_selector("body[data-ready=queue]", timeout=15000)
        assert page.locator("text=积水").count() >= 1
        for view in ("map", "stats", "devices"):
            page.goto(gw.base + f"/#/{view}")
            page.wait_for_selector(f"body[data-ready={view}]", timeout=15000)
        screenshot(page, "csp-map-stats-devices")
        assert violations == [] and page.script_errors == [], (violations, page.script_errors)


def test_recurring_problems_show_on_the_map_as_clusters(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        lon, lat = w.POINT_GRID_1
        gw.sql(  # three overflowing bins within 20 m this week, and one elsewhere: one cluster of three
            "INSERT INTO tickets (correlation_key, category, severity, title, source, region_id, region_path, state,"
            " opened_at, updated_at, lat, lon)"
            " SELECT 'bins/' || i, 'environment.garbage', 'minor', '垃圾满溢 ' || i, 'report', r.id, r.path,"
            " 'registered', now() - i * interval '1 day', now(), $2 + CASE WHEN i = 4 THEN 0.01 ELSE i * 0.00005 END,"
            " $3 FROM generate_series(1, 4) i, regions r WHERE r.code = $1",
            w.GRID_1,
            lat,
            lon,
        )
        page = open_page(browser.new_context(viewport={"width": 1400, "height": 900}))
        sign_in(page, gw.base, "district-supervisor")
        page.goto(gw.base + "/#/map")
        wait_for_view(page, "map")
        assert page.locator("#map path.cluster").count() == 0  # off until asked for
        page.check("#map-clusters")
        page.wait_for_function("document.body.dataset.mapClusters === '1'")
        assert page.locator("#map path.cluster").count() == 1
        assert page.locator(".cluster-counted").inner_text().startswith("统计于 ")  # the snapshot says when
        page.locator("#map path.cluster").click(force=True)
        popup = page.locator(".cluster-popup")
        popup.wait_for()
        assert popup.get_attribute("data-count") == "3" and "垃圾满溢" in popup.inner_text()
        assert popup.locator("a").count() == 3  # the drill-down: each ticket of the cluster
        screenshot(page, "map-clusters")
        # 治理专项: the supervisor turns the cluster into one root-cause case and lands on it.
        popup.locator("input[name=department]").fill("环卫 治理组")
        popup.locator("button[type=submit]").click()
        page.wait_for_function("location.hash.startsWith('#/ticket/')")
        page.locator("#linked-cases").wait_for()
        roots = gw.sql("SELECT id, department FROM tickets WHERE source = 'rootcause'")
        assert [r["department"] for r in roots] == ["环卫 治理组"]
        assert page.evaluate("location.hash") == f"#/ticket/{roots[0]['id']}"
        linked = page.locator("#linked-cases tbody tr").evaluate_all("rs => rs.map(r => Number(r.dataset.ticketId))")
        expected = gw.sql("SELECT id FROM tickets WHERE root_cause_id = $1 ORDER BY opened_at DESC", roots[0]["id"])
        assert linked == [r["id"] for r in expected] and len(linked) == 3
        page.locator("#linked-cases a").first.click()
        page.locator("#root-cause-link").wait_for()
        assert page.locator("#root-cause-link").inner_text() == f"#{roots[0]['id']}"
        screenshot(page, "root-cause")


def test_a_view_still_loading_when_the_next_starts_neither_marks_it_ready_nor_writes_into_it(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        page = open_page(browser.new_context(viewport={"width": 1400, "height": 900}))
        sign_in(page, gw.base, "district-supervisor")
        wait_for_view(page, "queue")
        # The statistics answer late (1.5 s), as on a loaded server; the operator moves on to the devices first.
        page.evaluate(
            "(() => { const real = window.fetch; window.fetch = (url, opts) => String(url).includes('/api/v1/stats/')"
            " ? new Promise((ok) => setTimeout(ok, 1500)).then(() => real(url, opts)) : real(url, opts); })()"
        )
        page.evaluate("location.hash = '#/stats'")
        page.wait_for_function("document.body.dataset.view === 'stats'")
        page.evaluate("location.hash = '#/devices'")
        wait_for_view(page, "devices")
        page.wait_for_timeout(2500)  # the statistics have answered by now
        assert page.evaluate("document.body.dataset.ready") == "devices"
        assert page.locator("#devices").count() == 1 and page.locator("#chart-series").count() == 0
        assert page.script_errors == []
