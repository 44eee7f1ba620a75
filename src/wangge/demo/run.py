"""`wangge demo`: embedded PostgreSQL, in-process broker, gateway, one edge and simulated sensors."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path

import yaml

from wangge import configfile
from wangge.demo.broker import EmbeddedBroker
from wangge.demo.simulator import SensorSimulator
from wangge.edge.config import EdgeConfig
from wangge.edge.service import EdgeService
from wangge.gateway.auth import create_token
from wangge.gateway.config import GatewayConfig, MqttConfig
from wangge.gateway.db import EmbeddedPostgres
from wangge.gateway.service import Gateway, wait_for_signal
from wangge.mqtt import parse_broker_url

log = logging.getLogger(__name__)


def demo_edge_config(mqtt: str, data_dir: Path) -> EdgeConfig:
    data = yaml.safe_load(resources.files("wangge.demo").joinpath("edge.yaml").read_text("utf-8"))
    url = f"mqtt://{mqtt}"
    data["sensor_broker"] = url
    data["uplink"]["broker"] = url
    data["data_dir"] = str(data_dir / "edge")
    return configfile.validate(EdgeConfig, data, "demo edge.yaml")


async def run_demo(data_dir: Path, http: str, mqtt: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"starting the embedded PostgreSQL under {data_dir / 'pg'} ...", flush=True)
    postgres = await asyncio.to_thread(EmbeddedPostgres, data_dir / "pg")
    broker = EmbeddedBroker(mqtt)
    await broker.start()
    gateway = Gateway(
        GatewayConfig(
            data_dir=data_dir,
            http=http,
            mqtt=MqttConfig(url=f"mqtt://{mqtt}", client_id="wangge-demo-gateway", shared_group=None),
        ),
        postgres.url,
    )
    edge: EdgeService | None = None
    simulator: SensorSimulator | None = None
    try:
        await gateway.start()
        assert gateway.pool is not None
        async with gateway.pool.acquire() as conn:
            token = await create_token(conn, "demo")
        edge = EdgeService(demo_edge_config(mqtt, data_dir))
        edge.start()
        simulator = SensorSimulator(parse_broker_url(f"mqtt://{mqtt}"))
        simulator.start()
        print(f"console: http://{http}/#token={token}")
        print(f"token: {token}")
        print("a storm floods the underpass within the first minute; Ctrl-C stops everything", flush=True)
        await wait_for_signal()
        print("stopping ...", flush=True)
    finally:
        if simulator is not None:
            simulator.stop()
        if edge is not None:
            await asyncio.to_thread(edge.stop)
        await gateway.stop()
        await broker.stop()
        await asyncio.to_thread(postgres.stop)
