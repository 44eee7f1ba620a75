"""A camera on an edge box, end to end: RTSP from a GStreamer server → the edge process (capture, YOLOX, ByteTrack,
zone rule, recording) → outbox → MQTT → the gateway process → a ticket with the snapshot and the event clip
attached (the clip in the object store, surviving a gateway outage and an edge killed while it held it), and the
camera's state on the device list."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import create_token, edge_yaml, gateway_yaml, sql, start_gateway
from tests.edge.video.rtsp import RtspServer
from tests.edge.video.test_rtsp_pipeline import ZONE
from tests.support import Mosquitto, asset, http_json, new_object_store, running, start_service, wait_until

REPO = Path(__file__).resolve().parents[1]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def admin(config: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "wangge", "admin", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_camera_intrusion_becomes_a_ticket_with_its_snapshot(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, estate_broker: Mosquitto
) -> None:
    clip, models = asset("video/vtest.avi"), asset("models/yolox_nano")
    gw_config = gateway_yaml(tmp_path, database_url, mosquitto.url)
    gateway, api = start_gateway(tmp_path, gw_config)
    token = create_token(gw_config)
    admin(gw_config, "import-regions", str(REPO / "wangge/demo/regions.geojson"))
    devices = tmp_path / "devices.csv"
    devices.write_text(
        "kind,id,edge_id,name,region_code,lat,lon,parent\n"
        "edge,e1,,Estate edge box,990101001001001,22.51,113.91,\n"
        "camera,plaza-cam,e1,广场摄像头 Plaza camera,990101001001001,22.5105,113.9102,\n"
    )
    admin(gw_config, "import-devices", str(devices))
    edge_token = admin(gw_config, "rotate-edge-token", "--edge-id", "e1").split("token:", 1)[1].split()[0]
    (tmp_path / "edge-token").write_text(edge_token)
    with RtspServer({"plaza": f"file:{clip}"}, tmp_path / "rtsp.log") as rtsp:
        config = edge_yaml(
            tmp_path,
            "e1",
            estate_broker.url,
            mosquitto.url,
            video={
                "model_dir": str(models),
                "snapshot_upload": {"gateway_url": api, "token_file": str(tmp_path / "edge-token")},
            },
            cameras=[
                {
                    "id": "plaza-cam",
                    "name": "广场",
                    "url": rtsp.url("plaza"),
                    "record": {"segment_s": 2, "pre_capture_s": 5, "post_capture_s": 5, "max_part_s": 60},
                    "rules": [
                        {
                            "kind": "zone",
                            "id": "lawn",
                            "category": "security.intrusion",
                            "title": "草坪闯入 Lawn intrusion",
                            "polygon": ZONE,
                            "inertia": 2,
                        }
                    ],
                }
            ],
        )
        edge, _ = start_service(
            "edge",
            config,
            tmp_path / "edge.log",
            lambda base: bool(http_json(base + "/healthz")[1]["sensor_broker_connected"]),
            timeout=30,
        )
        with running(gateway, edge) as procs:

            def intrusion() -> dict[str, Any] | None:
                items = http_json(api + "/api/v1/tickets?state=open", token)[1]["items"]
                return next((t for t in items if t["rule_id"] == "lawn"), None)

            ticket = wait_until(intrusion, 60, "the intrusion ticket", interval=1)
            assert ticket["device_id"] == "plaza-cam" and ticket["category"] == "security.intrusion"
            assert ticket["region_code"] == "990101001001001" and ticket["lat"] == 22.5105

            def snapshot() -> dict[str, Any] | None:
                detail = http_json(f"{api}/api/v1/tickets/{ticket['id']}", token)[1]
                return next((a for a in detail["attachments"] if a["kind"] == "snapshot"), None)

            attachment = wait_until(snapshot, 30, "the snapshot on the ticket", interval=1)
            request = urllib.request.Request(
                f"{api}/api/v1/attachments/{attachment['id']}", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert resp.headers["Content-Type"] == "image/jpeg" and resp.read(2) == b"\xff\xd8"
            detail = http_json(f"{api}/api/v1/tickets/{ticket['id']}", token)[1]
            [alert] = [a for a in detail["alerts"] if a["alert_id"] == attachment["alert_id"]]
            assert alert["payload"]["attributes"]["geometry"]["zones"] == [ZONE]

            def camera_row() -> dict[str, Any] | None:
                rows = http_json(api + "/api/v1/devices?kind=camera", token)[1]["items"]
                row = next(iter(rows), None)
                return row if row and row["live"] else None

            row = wait_until(camera_row, 30, "the camera's state from the edge status", interval=1)
            assert row["state"] == "online" and row["live"]["fps"] > 0
            assert row["live"]["recording"] == "on"

            # The gateway goes away; the edge cuts the alert's clip into its spool meanwhile, and is then killed.
            gateway.terminate()
            spool = tmp_path / "edge-e1" / "clips"
            wait_until(lambda: list(spool.glob("*.mp4")), 90, "the clip cut into the edge's spool", interval=0.5)
            edge.kill()
            gateway, api = start_gateway(tmp_path, gw_config)
            edge, _ = start_service(
                "edge", config, tmp_path / "edge.log", lambda b: http_json(b + "/healthz")[0] == 200
            )
            procs.extend([gateway, edge])

            def clip() -> dict[str, Any] | None:
                detail = http_json(f"{api}/api/v1/tickets/{ticket['id']}", token)[1]
                return next((a for a in detail["attachments"] if a["kind"] == "clip"), None)

            attachment = wait_until(clip, 60, "the clip on the ticket after both restarts", interval=1)
            assert attachment["content_type"] == "video/mp4" and attachment["device_id"] == "plaza-cam"
            detail = http_json(f"{api}/api/v1/tickets/{ticket['id']}", token)[1]
            [alert] = [a for a in detail["alerts"] if a["alert_id"] == attachment["alert_id"]]
            started, ended = (epoch(alert[k]) for k in ("started_at", "ended_at"))
            covers = epoch(attachment["covers_from"]), epoch(attachment["covers_to"])
            assert abs(covers[0] - (started - 5)) <= 2.5 and abs(covers[1] - (ended + 5)) <= 2.5  # ± one segment
            request = urllib.request.Request(
                f"{api}/api/v1/attachments/{attachment['id']}", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                body = resp.read()
            (tmp_path / "clip.mp4").write_bytes(body)
            facts = json.loads(
                subprocess.run(
                    ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "clip.mp4"],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=tmp_path,
                ).stdout
            )
            assert facts["streams"][0]["codec_name"] == "h264" and "mp4" in facts["format"]["format_name"]
            assert abs(float(facts["format"]["duration"]) - (covers[1] - covers[0])) <= 2.5
            assert abs(float(facts["format"]["duration"]) - attachment["duration_s"]) < 0.01
            # Once in the store with its metadata, and once only, though the edge was killed holding it.
            rows = sql(
                database_url,
                "SELECT object_key, sha256, size, part FROM attachments WHERE kind = 'clip' AND alert_id = $1",
                uuid.UUID(attachment["alert_id"]),
            )
            assert [r["part"] for r in rows] == [0] and rows[0]["size"] == len(body)
            bucket = yaml.safe_load(gw_config.read_text())["media"]["bucket"]
            store = new_object_store(bucket)
            assert store.get_sync(rows[0]["object_key"]) == body
            assert bytes(rows[0]["sha256"]) == hashlib.sha256(body).digest()
            assert len(store.keys_sync("clip/")) == 1
