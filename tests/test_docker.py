"""The deployment files: the compose file resolves (no Docker engine runs here or in CI, so `docker-compose
config` is the check, not a started stack), images are non-root with health checks, and configs validate."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import need_binary
from tests.support import REPO
from wangge.cli import main

DOCKER = REPO / "docker"


def resolved(*files: str) -> dict[str, Any]:
    need_binary("docker-compose", "docker-compose")
    args = ["docker-compose"] + [a for f in files for a in ("-f", str(DOCKER / f))] + ["config"]
    result = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = yaml.safe_load(result.stdout)
    return data


def test_the_site_compose_file_resolves_with_replicas_health_checks_and_secrets() -> None:
    config = resolved("compose.yaml")
    services = config["services"]
    assert set(services) == {"postgres", "broker", "gateway-1", "gateway-2", "estate-broker", "edge", "sensors", "rtsp"}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["broker"]["image"].startswith("emqx/emqx:5")
    gateways = [services["gateway-1"], services["gateway-2"]]
    assert {g["environment"]["WANGGE_MQTT__CLIENT_ID"] for g in gateways} == {"wangge-gateway-1", "wangge-gateway-2"}
    for gateway in gateways:
        assert gateway["build"]["target"] == "gateway"
        assert gateway["environment"]["WANGGE_DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert gateway["depends_on"]["broker"]["condition"] == "service_healthy"
    for name, service in services.items():
        if name != "sensors":
            assert "test" in service["healthcheck"], name
    assert set(config["secrets"]) == {"database_url", "postgres_password"}


def test_the_mosquitto_variant_swaps_the_central_broker() -> None:
    broker = resolved("compose.yaml", "compose.mosquitto.yaml")["services"]["broker"]
    assert broker["image"].startswith("eclipse-mosquitto:2")
    assert "mosquitto_sub" in broker["healthcheck"]["test"]
    assert any(v.endswith("conf.d/wangge-tuning.conf:ro") or "wangge-tuning.conf" in str(v) for v in broker["volumes"])


def test_images_run_unprivileged_and_check_their_health() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    stages = text.split("\nFROM ")
    assert "USER wangge" in text and "useradd --system" in text
    for target in ("gateway", "edge"):
        [stage] = [s for s in stages if s.startswith(f"runtime AS {target}")]
        assert "HEALTHCHECK" in stage and "CMD [" in stage


@pytest.mark.parametrize("config", ["config/gateway.yaml", "config/edge.yaml"])
def test_the_shipped_compose_configs_are_valid(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(DOCKER / config)]) == 0
