from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.contract import check_response
from tests.support import Mosquitto, Process, free_port, http_json, media_section, start_service, write_yaml

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _responses_follow_the_api_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every response an in-process test client receives is checked against the OpenAPI document."""
    original = TestClient._request

    async def checked(self: TestClient[Any, Any], method: str, path: Any, **kwargs: Any) -> Any:
        response = await original(self, method, path, **kwargs)
        if response.content_type == "text/event-stream":
            check_response(method, str(response.url), response.status, response.content_type, b"")
        else:
            check_response(method, str(response.url), response.status, response.content_type, await response.read())
        return response

    monkeypatch.setattr(TestClient, "_request", checked)


def need_binary(name: str, package: str) -> None:
    if shutil.which(name) is None:
        message = f"{name} is not installed (apt-get install {package}; `make test` does this as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def need_file(path: Path, package: str) -> None:
    if not path.is_file():
        message = f"{path} is missing (apt-get install {package}; `make test` does this as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real PostgreSQL 16 (pgserver) for the session; each test gets its own database."""
    from wangge.gateway.storage.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    yield server.url
    server.stop()


def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def count(url: str, query: str) -> int:
    """The single number a `SELECT count(*) ...`-like query returns."""
    return int(sql(url, query)[0][0])


@pytest.fixture
def database_url(pg_server: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    sql(pg_server, f'CREATE DATABASE "{name}"')
    return pg_server.replace("/postgres?", f"/{name}?")


def _broker(workdir: Path) -> Iterator[Mosquitto]:
    need_binary("mosquitto", "mosquitto")
    broker = Mosquitto(workdir)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """The centre's broker, which edges uplink to."""
    yield from _broker(tmp_path / "mosquitto")


@pytest.fixture
def estate_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A second broker: the estate's own, which sensors publish to."""
    yield from _broker(tmp_path / "estate-mosquitto")


SENSOR_MAPPINGS = [
    {
        "topic": "estate/e1/underpass/+device/level",
        "device": "{device}",
        "timestamp_pointer": "/ts",
        "metrics": [{"name": "water_level", "pointer": "/level_cm", "unit": "cm"}],
    },
    {
        "topic": "estate/e1/elevator/+device/fault",
        "device": "{device}",
        "metrics": [{"name": "elevator_fault", "pointer": "plain"}],
    },
]
FLOOD_RULE = {
    "id": "underpass-flooding",
    "metric": "water_level",
    "above": 20,
    "clear": 15,
    "for_s": 1,
    "severity": "major",
    "category": "emergencies.water_logging",
}
ELEVATOR_RULE = {
    "id": "elevator-fault",
    "metric": "elevator_fault",
    "above": 0.5,
    "clear": 0.5,
    "severity": "critical",
    "category": "emergencies.elevator_entrapment",
}


def edge_yaml(tmp_path: Path, edge_id: str, sensor_url: str, uplink_url: str, **extra: Any) -> Path:
    data = {
        "edge_id": edge_id,
        "sensor_broker": sensor_url,
        "uplink": {"broker": uplink_url, "max_inflight": 50, "confirm_timeout_s": 3},
        "data_dir": str(tmp_path / f"edge-{edge_id}"),
        "http": f"127.0.0.1:{free_port()}",
        "sensors": SENSOR_MAPPINGS,
        "rules": [FLOOD_RULE, ELEVATOR_RULE],
        **extra,
    }
    return write_yaml(tmp_path / f"edge-{edge_id}.yaml", data)


def gateway_yaml(tmp_path: Path, database_url: str, broker_url: str, name: str = "gw1", **extra: Any) -> Path:
    data = {
        "database_url": database_url,
        "data_dir": str(tmp_path / f"gateway-{name}"),
        "http": f"127.0.0.1:{free_port()}",
        "mqtt": {"url": broker_url, "client_id": f"wangge-test-{name}", "shared_group": "gateway"},
        # Recorded test alerts carry fixed dates; the time window itself is tested with its own settings.
        "ingest": {"max_event_age_days": 3650},
        "media": media_section(),
        **extra,
    }
    # Replicas of one test share their webhook sealing keys, as every replica of a site must.
    data["webhooks"] = {"secret_keys_file": str(tmp_path / "webhook-keys"), **data.get("webhooks", {})}
    return write_yaml(tmp_path / f"gateway-{name}.yaml", data)


def start_gateway(tmp_path: Path, config: Path, env: dict[str, str] | None = None) -> tuple[Process, str]:
    return start_service(
        "gateway",
        config,
        tmp_path / f"{config.stem}.log",
        lambda base: http_json(base + "/readyz")[0] == 200,
        env=env,
    )


def create_token(config: Path) -> str:
    """An admin user and a token for it, through the CLI as an operator would."""
    import subprocess
    import sys

    password = config.parent / "admin-password"
    password.write_text("a-long-enough-password")
    base = [sys.executable, "-m", "wangge", "admin"]
    subprocess.run(
        [
            *base,
            "create-user",
            "--config",
            str(config),
            "--username",
            "test-admin",
            "--role",
            "admin",
            "--password-file",
            str(password),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = subprocess.run(
        [*base, "create-token", "--config", str(config), "--user", "test-admin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("token:", 1)[1].strip()


def subscribe_ticket_created(api: str, config: Path, url: str) -> None:
    """A webhook subscription to ticket.created, made through the API with an admin token."""
    import json
    import urllib.request

    request = urllib.request.Request(
        api + "/api/v1/webhooks/subscriptions",
        method="POST",
        data=json.dumps({"name": "centre", "url": url, "event_types": ["ticket.created"]}).encode(),
        headers={"Authorization": f"Bearer {create_token(config)}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 201
