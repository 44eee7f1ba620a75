"""`wangge demo` as a user runs it: one command, embedded PostgreSQL and broker, a flood ticket in a minute."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import need_binary, need_file
from tests.support import REPO, free_port, http_json, http_text, metric_value, wait_until

pytestmark = pytest.mark.slow


def test_demo_floods_the_underpass_within_a_minute_and_stops_cleanly(tmp_path: Path) -> None:
    need_binary("ffmpeg", "ffmpeg")
    need_file(Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"), "opencv-doc")
    http, mqtt = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wangge", "demo", "--data-dir", str(tmp_path / "var"), "--http", http, "--mqtt", mqtt],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    try:

        def printed_token() -> str | None:
            match = re.search(r"^API token \(.*\): (\S+)$", (tmp_path / "demo.log").read_text(), re.M)
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            return match.group(1) if match else None

        token = wait_until(printed_token, 60, "the demo to print its token")
        printed = (tmp_path / "demo.log").read_text()
        password = re.search(r"^console: http://\S+/  \(sign in: user demo-admin, password (\S+)\)$", printed, re.M)
        assert password is not None and token not in password.group(0)
        # The printed password signs in (the console's form does the same request).
        status, body = http_json(
            f"http://{http}/api/v1/auth/login", method="POST", body={"username": "demo-admin", "password": password[1]}
        )
        assert status == 200 and body["user"]["role"] == "admin"
        # The printed Open311 endpoint answers with the demo key, as a 12345 platform would call it.
        open311 = re.search(r"^Open311 GeoReport v2: (\S+)$", printed, re.M)
        assert open311 is not None
        status, services = http_json(open311.group(1))
        assert status == 200 and "fire-lane" in [s["service_code"] for s in services]
        started = time.monotonic()

        def flood_ticket() -> dict[str, object] | None:
            items = http_json(f"http://{http}/api/v1/tickets?state=open&source=alert", token)[1]["items"]
            return next((t for t in items if t["rule_id"] == "underpass-flooding"), None)

        ticket = wait_until(flood_ticket, 70, "the flood ticket", interval=1)
        assert time.monotonic() - started < 70
        assert ticket["category"] == "emergencies.water_logging"
        assert ticket["device_id"] == "underpass-gauge-1"
        assert http_json(f"http://{http}/readyz")[0] == 200

        def history() -> bool:  # the first start fills eight weeks of cases in the background
            weekly = http_json(f"http://{http}/api/v1/stats/weekly", token)[1]
            return bool(weekly["by_region"]["total"]["current"]["counts"]["reported"] > 10 and weekly["hotspots"])

        wait_until(history, 90, "the demo history's last week in the weekly report", interval=2)

        # The demo camera (Debian's opencv-doc clip, HOG without model weights): a video ticket with its clip.
        assert "camera plaza-cam replays the PETS 2009 plaza" in (tmp_path / "demo.log").read_text()

        def video_ticket_with_clip() -> dict[str, object] | None:
            items = http_json(f"http://{http}/api/v1/tickets?state=open&source=alert", token)[1]["items"]
            for item in (t for t in items if t["device_id"] == "plaza-cam"):
                detail = http_json(f"http://{http}/api/v1/tickets/{item['id']}", token)[1]
                kinds = {a["kind"] for a in detail["attachments"]}
                if {"snapshot", "clip"} <= kinds:
                    return detail
            return None

        video = wait_until(
            video_ticket_with_clip, 120 - (time.monotonic() - started), "a video ticket with a clip", interval=2
        )
        assert video["category"] == "security.intrusion"
        metrics = http_text(f"http://{http}/metrics")
        assert metric_value(metrics, "wangge_gateway_tickets_opened_total") >= 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
