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
    assert set(services) == {
        *("postgres", "broker", "gateway-1", "gateway-2", "estate-broker", "edge", "sensors", "rtsp"),
        *("prometheus", "grafana", "objects"),
    }
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
    assert set(config["secrets"]) == {
        *("database_url", "postgres_password", "grafana_admin_password"),
        *("gateway_broker_url", "edge_broker_url", "broker_hooks_secret", "webhook_keys"),
        *("s3_access_key", "s3_secret_key", "s3_config"),
    }
    # Broker identities everywhere: the gateways and the edge read credentialed URLs from secrets, and EMQX
    # asks the gateways (alias `gateway`) about every login and topic through the file `emqx-auth` writes.
    for gateway in gateways:
        assert gateway["environment"]["WANGGE_MQTT__URL_FILE"] == "/run/secrets/gateway_broker_url"
        assert gateway["environment"]["WANGGE_MQTT__BROKER_HOOKS_SECRET_FILE"] == "/run/secrets/broker_hooks_secret"
        assert "gateway" in gateway["networks"]["default"]["aliases"]
        assert gateway["environment"]["WANGGE_WEBHOOKS__SECRET_KEYS_FILE"] == "/run/secrets/webhook_keys"
        # Both replicas share one object store; its keys come from secrets, never from the config file.
        assert gateway["environment"]["WANGGE_MEDIA__S3_URL"] == "http://objects:8333"
        assert gateway["environment"]["WANGGE_S3_SECRET_KEY_FILE"] == "/run/secrets/s3_secret_key"
        assert gateway["depends_on"]["objects"]["condition"] == "service_healthy"
    assert services["edge"]["environment"]["WANGGE_UPLINK__BROKER_FILE"] == "/run/secrets/edge_broker_url"
    assert "WANGGE_UPLINK__BROKER" not in services["edge"]["environment"]
    assert any(
        str(v).endswith("docker/secrets/emqx_auth.hocon:/opt/emqx/etc/base.hocon:ro")
        for v in services["broker"]["volumes"]
    )
    assert "18083" not in str(services["broker"].get("ports"))


def test_the_mosquitto_variant_swaps_the_central_broker() -> None:
    broker = resolved("compose.yaml", "compose.mosquitto.yaml")["services"]["broker"]
    assert broker["image"].startswith("eclipse-mosquitto:2")
    assert "mosquitto_sub" in " ".join(broker["healthcheck"]["test"])
    # The central Mosquitto refuses anonymous clients and checks subscriptions with the dynamic-security
    # plugin, whose file `wangge admin broker-dynsec` writes (docs/security.md).
    mounts = {str(v).split(":")[1] if isinstance(v, str) else v["target"]: v for v in broker["volumes"]}
    assert {"/mosquitto/config/mosquitto.conf", "/mosquitto/data/dynamic-security.json"} <= set(mounts)
    assert str(mounts["/mosquitto/config/mosquitto.conf"]).split(":")[0].endswith("central-dynsec.conf")
    central = (DOCKER / "mosquitto" / "central-dynsec.conf").read_text().splitlines()
    assert "allow_anonymous false" in central
    assert "plugin_opt_config_file /mosquitto/data/dynamic-security.json" in central
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


def _exported_series() -> set[str]:
    """Every series name the gateway and edge processes can export (families with no samples yet included)."""
    import prometheus_client

    import wangge.edge.metrics
    import wangge.gateway.metrics  # noqa: F401

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = set()
    for family in prometheus_client.REGISTRY.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def test_the_dashboard_only_charts_series_the_processes_export() -> None:
    import json
    import re

    dashboard = json.loads((DOCKER / "grafana/dashboards/wangge.json").read_text())
    datasource = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    [source] = datasource["datasources"]
    exported = _exported_series()
    charted = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            charted |= set(re.findall(r"\b((?:wangge|process)_[a-z_]+)\b", target["expr"]))
    assert charted, "the dashboard charts nothing"
    assert charted <= exported, f"not exported by any process: {sorted(charted - exported)}"
    # Every wangge family is on the dashboard somewhere (a new metric needs a panel, or a reason here).
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in exported if n.startswith("wangge_")}
    charted_families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in charted}
    assert families <= charted_families, f"no panel for {sorted(families - charted_families)}"


def test_prometheus_scrapes_every_wangge_service_on_its_http_port() -> None:
    services = resolved("compose.yaml")["services"]
    scrape = yaml.safe_load((DOCKER / "prometheus/prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    expected = set()
    for name in ("gateway-1", "gateway-2", "edge"):
        config = "gateway" if name.startswith("gateway") else "edge"
        port = yaml.safe_load((DOCKER / f"config/{config}.yaml").read_text())["http"].rpartition(":")[2]
        expected.add(f"{name}:{port}")
    assert targets == expected
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith("/run/secrets/")
