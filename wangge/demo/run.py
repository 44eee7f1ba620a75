"""`wangge demo`: embedded PostgreSQL, in-process broker, gateway, one edge and simulated sensors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from wangge import configfile
from wangge.collector import freeze_start_up
from wangge.demo.broker import DemoIdentities, EmbeddedBroker
from wangge.demo.camera import HOW_TO_ADD, camera_config, prepare_clip
from wangge.demo.history import seed_history
from wangge.demo.simulator import SensorSimulator
from wangge.edge.config import EdgeConfig
from wangge.edge.service import EdgeService
from wangge.gateway.accounts.broker import GATEWAY_USER
from wangge.gateway.accounts.principal import Principal
from wangge.gateway.accounts.tokens import hash_token, issue_token
from wangge.gateway.accounts.users import create_user, hash_password
from wangge.gateway.cases import registry
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.config import GatewayConfig
from wangge.gateway.ingest.config import MqttConfig
from wangge.gateway.intake.keys import KEY_PREFIX, issue_key
from wangge.gateway.service import Gateway, object_store, wait_for_signal
from wangge.gateway.storage.embedded import EmbeddedPostgres
from wangge.mqtt import parse_broker_url

log = logging.getLogger(__name__)
DEMO_EDGE = "demo-estate"  # the edge_id in wangge/demo/edge.yaml


async def seed(conn: Any) -> tuple[str, str]:
    """The demo district's regions and devices, and an admin user; returns (token, password)."""
    files = resources.files("wangge.demo")
    await registry.import_regions(conn, files.joinpath("regions.geojson").read_text("utf-8"), "regions.geojson")
    await registry.import_devices(conn, files.joinpath("devices.csv").read_text("utf-8"))
    password = secrets.token_urlsafe(12)
    user_id = await conn.fetchval("SELECT id FROM users WHERE username = 'demo-admin'")
    if user_id is None:
        user_id = await create_user(conn, "demo-admin", password, "admin", None, "Demo administrator")
    else:
        await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, hash_password(password))
    token = await issue_token(conn, "demo", user_id=user_id)
    return token, password


async def demo_open311_key(conn: Any) -> str:
    """An Open311 key for a pretend 12345 hotline, new on every start (the old one stops working)."""
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    rotated = await conn.fetchval(
        "UPDATE open311_keys SET key_sha256 = $1, revoked_at = NULL WHERE name = 'demo-hotline' RETURNING id",
        hash_token(key),
    )
    if rotated is None:
        issued = await issue_key(conn, Principal("demo-admin", "admin", "/"), "demo-hotline", None, 120, None)
        key = issued["api_key"]
    return str(key)


def demo_edge_config(
    mqtt: str, data_dir: Path, identities: DemoIdentities, http: str = "127.0.0.1:8080", clip: Path | None = None
) -> EdgeConfig:
    data = yaml.safe_load(resources.files("wangge.demo").joinpath("edge.yaml").read_text("utf-8"))
    url = f"mqtt://{identities.edge_id}:{identities.edge}@{mqtt}"
    data["sensor_broker"] = url
    data["uplink"]["broker"] = url
    data["data_dir"] = str(data_dir / "edge")
    if clip is not None:
        model_dir = Path("models").resolve()
        data["video"] = {
            # YOLOX-Nano when its verified weights are in ./models (`wangge models` says how), else OpenCV's HOG.
            "model": "yolox_nano" if (model_dir / "yolox_nano.onnx").is_file() else None,
            "model_dir": str(model_dir),
            "snapshot_upload": {"gateway_url": f"http://{http}", "token_file": str(data_dir / "edge-token")},
        }
        data["cameras"] = [camera_config(clip)]
    return configfile.validate(EdgeConfig, data, "demo edge.yaml")


async def run_demo(data_dir: Path, http: str, mqtt: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"starting the embedded PostgreSQL under {data_dir / 'pg'} ...", flush=True)
    postgres = await asyncio.to_thread(EmbeddedPostgres, data_dir / "pg")
    identities = DemoIdentities(edge_id=DEMO_EDGE)
    config = GatewayConfig(
        data_dir=data_dir,
        http=http,
        mqtt=MqttConfig(
            url=f"mqtt://{GATEWAY_USER}:{identities.gateway}@{mqtt}",
            client_id="wangge-demo-gateway",
            shared_group=None,
        ),
    )
    print(f"starting the embedded object store (SeaweedFS) under {data_dir / 'media'} ...", flush=True)
    store, objects = await asyncio.to_thread(object_store, config)
    assert objects is not None  # the demo config names no S3 endpoint
    clip = await asyncio.to_thread(prepare_clip, data_dir)
    broker = EmbeddedBroker(mqtt, identities)
    await broker.start()
    gateway = Gateway(config, postgres.url, store=store)
    edge: EdgeService | None = None
    simulator: SensorSimulator | None = None
    history: asyncio.Task[int] | None = None
    try:
        await gateway.start()
        assert gateway.pool is not None
        async with gateway.pool.acquire() as conn:
            token, password = await seed(conn)
            open311_key = await demo_open311_key(conn)
            edge_token = await issue_token(conn, "demo edge box", edge_id=DEMO_EDGE)
        (data_dir / "edge-token").write_text(edge_token)
        (data_dir / "edge-token").chmod(0o600)
        history = asyncio.create_task(
            seed_history(gateway.pool, CaseRules.from_config(gateway.config.cases), datetime.now(UTC)),
            name="demo-history",
        )
        edge = EdgeService(demo_edge_config(mqtt, data_dir, identities, http, clip))
        edge.start()
        simulator = SensorSimulator(parse_broker_url(f"mqtt://{identities.sensors_user}:{identities.sensors}@{mqtt}"))
        simulator.start()
        # No token in the console's URL: it would stay in the browser's history and in screenshots.
        print(f"console: http://{http}/  (sign in: user demo-admin, password {password})")
        print(f"API token (curl -H 'Authorization: Bearer ...'): {token}")
        print(f"residents report at http://{http}/report.html (no account; on a phone, tap the map)")
        print(f"Open311 GeoReport v2: http://{http}/open311/v2/services.json?api_key={open311_key}")
        print("a storm floods the underpass within the first minute; Ctrl-C stops everything", flush=True)
        if clip is None:
            print(HOW_TO_ADD, flush=True)
        else:
            detector = (
                "YOLOX-Nano" if edge.config.video.model else "OpenCV's HOG (`wangge models` says how to add YOLOX)"
            )
            print(
                f"camera plaza-cam replays the PETS 2009 plaza ({detector}): a lawn intrusion ticket with snapshot,"
                " clip and live view (Devices → 广场摄像头) within the first minute",
                flush=True,
            )
        print("on a first start, eight weeks of demo cases fill the statistics, 类案 and weekly report", flush=True)
        freeze_start_up()  # the gateway froze its own start-up; the edge's and the simulator's came after
        await wait_for_signal()
        print("stopping ...", flush=True)
    finally:
        if history is not None and not history.done():
            history.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await history
        if simulator is not None:
            simulator.stop()
        if edge is not None:
            await _timed("edge", asyncio.to_thread(edge.stop))
        await _timed("gateway", gateway.stop())
        await _timed("broker", broker.stop())
        await _timed("postgres", asyncio.to_thread(postgres.stop))
        await _timed("object store", asyncio.to_thread(objects.stop))


async def _timed(what: str, step: Awaitable[object]) -> None:
    """Each part's stop, timed in the log: a slow shutdown says which part was slow."""
    started = time.monotonic()
    await step
    log.info("%s stopped in %.1f s", what, time.monotonic() - started)
