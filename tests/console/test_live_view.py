"""Live view in Chromium, through every real part: a GStreamer RTSP camera, the edge process (its ffmpeg copying
the stream to HLS and pushing it over HTTP), Mosquitto carrying the gateway's command, the gateway storing the
segments in SeaweedFS, hls.js in the console playing them."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import edge_yaml, need_binary
from tests.console.browser import chromium, live_gateway, open_page, screenshot, sign_in, wait_for_view
from tests.edge.video.rtsp import RtspServer
from tests.support import Mosquitto, http_json, running, start_service, wait_until
from wangge.gateway.accounts.tokens import issue_token


def test_an_operator_watches_a_camera_live_and_the_session_ends_with_the_page(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, estate_broker: Mosquitto
) -> None:
    need_binary("ffmpeg", "ffmpeg")
    with (
        live_gateway(database_url, mosquitto.url, tmp_path / "gw", media={"live": {"idle_s": 5}}) as gw,
        RtspServer({"plaza": "pattern:ball"}, tmp_path / "rtsp.log") as rtsp,
    ):
        assert gw.world is not None
        # The demo registry has the camera, in grid 1 of community 1.
        assert gw.sql("SELECT kind, edge_id FROM devices WHERE device_id = 'plaza-cam'")[0][0] == "camera"

        async def edge_token() -> str:
            assert gw.gateway.pool is not None
            async with gw.gateway.pool.acquire() as conn:
                return await issue_token(conn, "demo-estate box", edge_id="demo-estate")

        (tmp_path / "edge-token").write_text(gw.run(edge_token()))
        config = edge_yaml(
            tmp_path,
            "demo-estate",
            estate_broker.url,
            mosquitto.url,
            video={
                "model": None,
                "snapshot_upload": {"gateway_url": gw.base, "token_file": str(tmp_path / "edge-token")},
            },
            cameras=[{"id": "plaza-cam", "url": rtsp.url("plaza"), "record": {"enabled": False}}],
        )
        edge, _ = start_service("edge", config, tmp_path / "edge.log", lambda b: http_json(b + "/healthz")[0] == 200)
        with running(edge):
            c1 = gw.world.tokens["c1-operator"]

            def camera_online() -> bool:
                rows = http_json(gw.base + "/api/v1/devices?kind=camera", c1)[1]["items"]
                return bool(rows) and rows[0]["state"] == "online"

            wait_until(camera_online, 40, "the camera online in the edge's status", interval=0.5)
            # Outside the camera's area there is no such camera.
            status, _ = http_json(
                gw.base + "/api/v1/live/sessions",
                gw.world.tokens["c2-operator"],
                method="POST",
                body={"camera": "plaza-cam"},
            )
            assert status == 404

            with chromium() as browser:
                context = browser.new_context()
                page = open_page(context)
                sign_in(page, gw.base, "c1-operator")
                page.goto(gw.base + "/#/devices")
                wait_for_view(page, "devices")
                page.click("#devices tr[data-device-id='plaza-cam']")
                page.wait_for_selector("button.live-open")
                clicked = time.monotonic()
                page.click("button.live-open")
                page.wait_for_function(
                    "document.querySelector('#live-view')?.dataset.state === 'playing'", timeout=20000
                )
                first_frame_s = time.monotonic() - clicked
                played = page.evaluate("document.querySelector('#live-view video').currentTime")
                time.sleep(2.5)
                facts: dict[str, Any] = page.evaluate(
                    "(() => { const v = document.querySelector('#live-view video');"
                    " return { t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames,"
                    " session: document.querySelector('#live-view').dataset.session, w: v.videoWidth }; })()"
                )
                screenshot(page, "live-view")
                assert facts["t"] > played + 1.0, (played, facts)  # the picture moves
                assert facts["frames"] > 10 and facts["w"] > 0
                assert first_frame_s < 10, first_frame_s  # the figure to quote is in bench/live_view.py
                session = facts["session"]
                assert gw.sql("SELECT ended_at FROM live_sessions WHERE id = $1::uuid", session)[0][0] is None
                page.close()
                context.close()

            def ended() -> Any:
                rows = gw.sql(
                    "SELECT end_reason FROM live_sessions WHERE id = $1::uuid AND ended_at IS NOT NULL", session
                )
                return rows[0][0] if rows else None

            assert wait_until(ended, 30, "the session to end after the page closed", interval=0.5) in ("closed", "idle")
            [view] = gw.sql("SELECT actor, subject, data FROM audit_log WHERE kind = 'live.view'")
            assert view["actor"] == "c1-operator" and view["subject"] == "camera:plaza-cam"
            assert view["data"]["from"] < view["data"]["to"] and view["data"]["bytes"] > 0
            assert gw.sql("SELECT count(*) FROM audit_log WHERE kind = 'live.start'")[0][0] == 1

            def edge_stopped() -> bool:
                with urllib.request.urlopen(edge_base(config) + "/metrics", timeout=5) as resp:
                    return "wangge_edge_live_sessions 0.0" in resp.read().decode()

            wait_until(edge_stopped, 20, "the edge's ffmpeg to stop", interval=0.5)

            # From the camera's marker on the map, too.
            with chromium() as browser:
                page = open_page(browser.new_context())
                sign_in(page, gw.base, "c1-operator")
                page.goto(gw.base + "/#/map")
                page.wait_for_function("document.body.dataset.mapCameras === '1'", timeout=15000)
                page.click("path.camera-marker")
                page.click(".camera-popup button.live-open")
                page.wait_for_function(
                    "document.querySelector('#live-view')?.dataset.state === 'playing'", timeout=20000
                )
                screenshot(page, "live-view-map")

                # A video ticket's clip plays in its detail, the alert's span marked beside it.
                ticket = gw.run(camera_ticket(gw, tmp_path))
                page.goto(f"{gw.base}/#/ticket/{ticket}")
                wait_for_view(page, "ticket")
                page.click("button.clip-play")
                page.wait_for_function(
                    "(document.querySelector('video.clip-video')?.currentTime || 0) > 0.5", timeout=15000
                )
                assert page.locator(".clip-bar .clip-alert").count() == 1
                screenshot(page, "ticket-clip")


async def camera_ticket(gw: Any, tmp_path: Path) -> int:
    """A lawn intrusion on plaza-cam with a three-second clip, sent as the edge sends it."""
    import aiohttp

    from tests.gateway.media.test_clip_boundary_fuzz import make_clip
    from tests.test_alert_format import alert
    from wangge.gateway.cases.rules import CaseRules
    from wangge.gateway.ingest.batch import Incoming, prepare
    from wangge.gateway.ingest.store import store

    alert_id = str(uuid.uuid4())
    now = gw.clock()
    rules = CaseRules.from_config(gw.gateway.config.cases)
    source = {"kind": "camera", "device_id": "plaza-cam"}
    message = alert(edge_id="demo-estate", alert_id=alert_id, source=source, rule_id="plaza-lawn")
    topic = "wangge/edge/demo-estate/alerts"
    async with gw.gateway.pool.acquire() as conn:
        await store(conn, prepare([Incoming(1, 1, 1, topic, json.dumps(message).encode())]), rules, now)
        ticket: int = await conn.fetchval("SELECT ticket_id FROM alerts WHERE alert_id = $1::uuid", alert_id)
    clip = make_clip(tmp_path / "clip.mp4")
    token = (tmp_path / "edge-token").read_text()
    at = now.isoformat()
    url = f"{gw.base}/api/v1/edges/demo-estate/alerts/{alert_id}/clips/plaza-cam/0"
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            url,
            params={"covers_from": at, "covers_to": at},
            data=clip,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "video/mp4"},
        ) as resp,
    ):
        assert resp.status == 201, await resp.text()
    return ticket


def edge_base(config: Path) -> str:
    import yaml

    return f"http://{yaml.safe_load(config.read_text())['http']}"
