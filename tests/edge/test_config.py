from pathlib import Path

import pytest

from wangge.cli import main

GOOD = """
edge_id: estate-1
sensor_broker: mqtt://127.0.0.1:1883
uplink: {broker: mqtt://central.example:1883}
sensors:
  - topic: estate/+device/level
    device: "{device}"
    metrics: [{name: water_level, pointer: /level_cm, unit: cm}]
rules:
  - {id: flood, metric: water_level, above: 20, clear: 15, for_s: 10, category: emergencies.water_logging}
"""


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    code = main(["check-config", str(path)])
    err = capsys.readouterr().err
    return code, [line.strip() for line in err.splitlines()[1:]]


def test_a_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(tmp_path, GOOD, capsys) == (0, [])


@pytest.mark.parametrize("shipped", ["wangge/demo/edge.yaml", "examples/edge.yaml", "examples/gateway.yaml"])
def test_the_shipped_configs_are_valid(shipped: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(Path(__file__).parents[2] / shipped)]) == 0
    assert capsys.readouterr().out.endswith("configuration\n")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("above: 20, clear: 15", "above: 20, clear: 25"),
            "rules[0]: clear level 25.0 must not be above the raise level 20.0",
        ),
        (
            ("above: 20, clear: 15", "above: 20, below: 3, clear: 15"),
            "rules[0]: give exactly one of 'above' or 'below'",
        ),
        (
            ("metric: water_level, above", "metric: rainfall, above"),
            "rules[0].metric: 'rainfall' is not produced by any sensors[] mapping",
        ),
        (
            ("pointer: /level_cm", "pointer: level_cm"),
            "sensors[0].metrics[0].pointer: must be 'plain' or a JSON pointer starting with '/' (e.g. /level_cm)",
        ),
        (
            ('device: "{device}"', 'device: "{building}"'),
            "sensors[0]: device template uses ['building'], not captured by the topic 'estate/+device/level'",
        ),
        (
            ("mqtt://central.example:1883", "http://central.example"),
            "uplink.broker: broker URL must start with mqtt:// or mqtts://, got 'http://central.example'",
        ),
        (
            ("for_s: 10", "for_s: ten"),
            "rules[0].for_s: Input should be a valid number, unable to parse string as a number",
        ),
        (("edge_id: estate-1", "edge_id: estate-1\nsurprise: 1"), "surprise: Extra inputs are not permitted"),
    ],
)
def test_each_bad_field_is_named_by_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], expected: str
) -> None:
    assert change[0] in GOOD
    code, problems = check(tmp_path, GOOD.replace(*change), capsys)
    assert code == 2
    assert expected in problems


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace("edge_id: estate-1", "edge_id: 'bad id'").replace("clear: 15", "clear: 25")
    code, problems = check(tmp_path, text, capsys)
    assert code == 2
    assert [p.split(":")[0] for p in problems] == ["edge_id", "rules[0]"]


def test_broken_yaml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, problems = check(tmp_path, "edge_id: x\nsensors: [1,\n", capsys)
    assert code == 2 and problems[0].startswith("line 3, column 1: invalid YAML")


def test_a_gateway_config_is_recognised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("database_url: mysql://x\nhttp: 127.0.0.1:99999\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "database_url: must be a postgresql:// URL" in err
    assert "http: must be host:port, e.g. 127.0.0.1:8080" in err


def test_environment_overrides_and_secret_files(tmp_path: Path) -> None:
    from wangge import configfile
    from wangge.gateway.config import GatewayConfig

    secret = tmp_path / "db_url"
    secret.write_text("postgresql://wangge:s3cret@db:5432/wangge\n")
    env = {
        "WANGGE_DATABASE_URL_FILE": str(secret),
        "WANGGE_MQTT__URL": "mqtt://emqx:1883",
        "WANGGE_MQTT__BATCH_MAX": "250",
        "WANGGE_CASES__HOLIDAYS": "[2026-10-01, 2026-10-02]",
        "OTHER": "x",
        # Secrets the docs tell operators to set under these names are read where they are used, not settings.
        "WANGGE_WEBHOOK_KEYS": "a-fernet-key",
        "WANGGE_SMS_SECRET": "sms-adapter-key",
    }
    path = tmp_path / "gateway.yaml"
    path.write_text("http: 0.0.0.0:8080\nmqtt: {client_id: gw-7}\n")
    config = configfile.load(GatewayConfig, path, env)
    assert config.database_url == "postgresql://wangge:s3cret@db:5432/wangge"
    assert (config.mqtt.url, config.mqtt.client_id, config.mqtt.batch_max) == ("mqtt://emqx:1883", "gw-7", 250)
    assert [d.isoformat() for d in config.cases.holidays] == ["2026-10-01", "2026-10-02"]
    assert configfile.load(GatewayConfig, None, {"WANGGE_HTTP": "0.0.0.0:9000"}).http == "0.0.0.0:9000"
    with pytest.raises(configfile.ConfigError) as info:
        configfile.load(GatewayConfig, path, {"WANGGE_MQTT__BATCH_MAX": "lots"})
    assert info.value.problems == [
        "mqtt.batch_max: Input should be a valid integer, unable to parse string as an integer"
        " (set by WANGGE_MQTT__BATCH_MAX)"
    ]
    with pytest.raises(configfile.ConfigError) as info:
        configfile.load(GatewayConfig, path, {"WANGGE_DATABASE_URL_FILE": str(tmp_path / "missing")})
    assert "WANGGE_DATABASE_URL_FILE: cannot read" in info.value.problems[0]
