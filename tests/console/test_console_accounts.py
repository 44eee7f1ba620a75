"""The accounts page in headless Chromium under the console's own CSP, and no HTML built from data anywhere in
the console (map tooltips, popups and the tile attribution included)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

from tests.console.browser import chromium, live_gateway, open_page, screenshot, sign_in, wait_for_view
from tests.console.test_console_browser import publish_alert
from tests.gateway import world as w
from tests.support import REPO, Mosquitto, wait_until

CONSOLE_JS = REPO / "gateway/console/static/console"


def status_of(base: str, token: str) -> int:
    request = urllib.request.Request(base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_an_admin_runs_accounts_from_the_console(database_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        assert gw.world is not None
        page = open_page(browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=False))
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(gw.base + "/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "password-admin")
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("body[data-live=on]", timeout=15000)
        page.goto(gw.base + "/#/accounts")
        page.wait_for_selector("body[data-ready=accounts]", timeout=15000)
        rows = page.locator("#users tbody tr")
        assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.username)")) == sorted(u for u, _, _ in w.USERS)

        # Create a grid worker in grid 1.
        page.fill("#new-user input[name=username]", "g1-li")
        page.fill("#new-user input[name=display_name]", "李 Li")
        page.select_option("#new-user select[name=role]", "grid_worker")
        page.fill("#new-user input[name=region]", w.GRID_1)
        page.fill("#new-user input[name=password]", "first-password-1")
        page.click("#new-user button[type=submit]")
        page.wait_for_selector("#users tr[data-username='g1-li']", timeout=10000)
        assert gw.sql("SELECT role FROM users WHERE username = 'g1-li'")[0]["role"] == "grid_worker"

        # Disable c1-operator: their token stops working at once.
        page.click("#users tr[data-username='c1-operator'] button.toggle")
        page.wait_for_selector("#users tr[data-username='c1-operator'][data-state=disabled]", timeout=10000)
        assert status_of(gw.base, gw.world.tokens["c1-operator"]) == 401

        # Reset g1-li's password, then revoke c1-worker's token from the token list.
        page.click("#users tr[data-username='g1-li'] button.reset")
        page.fill("#reset-form input[name=password]", "second-password-2")
        page.click("#reset-form button[type=submit]")
        page.wait_for_selector("#accounts-status:has-text('g1-li')", timeout=10000)
        page.click("#users tr[data-username='c1-worker'] button.tokens")
        page.wait_for_selector("#token-list button.revoke", timeout=10000)
        assert status_of(gw.base, gw.world.tokens["c1-worker"]) == 200
        page.click("#token-list button.revoke")
        page.wait_for_selector("#token-list tbody tr:not(:has(button.revoke))", timeout=10000)
        assert status_of(gw.base, gw.world.tokens["c1-worker"]) == 401
        kinds = {r["kind"] for r in gw.sql("SELECT kind FROM audit_log WHERE actor = 'admin'")}
        assert {"user.created", "user.updated", "user.password_reset", "token.revoked"} <= kinds
        screenshot(page, "accounts")
        assert violations == [] and page.script_errors == [], (violations, page.script_errors)

        # A supervisor sees only the operators and grid workers of their street, and can give no other role.
        sup = open_page(browser.new_context(viewport={"width": 1400, "height": 900}))
        sign_in(sup, gw.base, "street-supervisor")
        sup.goto(gw.base + "/#/accounts")
        wait_for_view(sup, "accounts")
        names = sorted(sup.locator("#users tbody tr").evaluate_all("rs => rs.map(r => r.dataset.username)"))
        assert names == ["c1-operator", "c1-worker", "g1-li"]
        options = sup.locator("#new-user select[name=role] option").evaluate_all("os => os.map(o => o.value)")
        assert options == ["operator", "grid_worker"]
        worker = open_page(browser.new_context())
        sign_in(worker, gw.base, "c2-operator")
        assert worker.locator("nav a[data-view='accounts']").is_hidden()


def test_names_and_titles_from_data_are_text_on_the_map(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with live_gateway(database_url, mosquitto.url, tmp_path / "gw") as gw, chromium() as browser:
        publish_alert(mosquitto, severity="major", title='<b id="from-title">bold</b>')
        wait_until(lambda: len(gw.sql("SELECT 1 FROM tickets WHERE lat IS NOT NULL")) == 1, 15, "a placed ticket")
        gw.sql("UPDATE regions SET name = '<img id=\"from-region\" src=x>' WHERE code = $1", w.GRID_1)
        page = open_page(browser.new_context(viewport={"width": 1400, "height": 900}))
        sign_in(page, gw.base, "district-supervisor")
        page.goto(gw.base + "/#/map")
        wait_for_view(page, "map")
        paths = page.locator("#map path.leaflet-interactive:not([class*=marker])")
        for i in range(paths.count()):
            paths.nth(i).dispatch_event("mouseover")
            if "from-region" in (page.locator(".leaflet-tooltip").last.text_content() or ""):
                break
        assert '<img id="from-region" src=x> (' in (page.locator(".leaflet-tooltip").last.text_content() or "")
        page.locator("#map path[class*=marker]").first.dispatch_event("click")
        page.wait_for_selector(".ticket-popup", timeout=5000)
        assert '<b id="from-title">bold</b>' in page.locator(".ticket-popup").inner_text()
        assert page.locator("#from-region, #from-title").count() == 0


def test_the_console_builds_no_html_from_strings() -> None:
    """Every node is made with createElement/textContent; strings never reach an HTML parser."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|bind(Tooltip|Popup)\(\s*[`'\"]")
    sources = sorted(CONSOLE_JS.glob("*.js"))
    assert sources
    found = [
        f"{p.name}:{n}" for p in sources for n, line in enumerate(p.read_text().splitlines(), 1) if sinks.search(line)
    ]
    assert found == []
    assert "attribution:" not in (CONSOLE_JS / "app.js").read_text()  # Leaflet would parse it as HTML
