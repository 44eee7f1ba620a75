"""The gateway config file (gateway.yaml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from wangge.configfile import BrokerUrl, HostPort, StrictModel


class MqttConfig(StrictModel):
    url: BrokerUrl = "mqtt://127.0.0.1:1883"
    client_id: str = Field(
        default="wangge-gateway-1",
        min_length=1,
        max_length=128,
        description="stable per replica: the broker keeps its session across restarts",
    )
    shared_group: str | None = Field(default="gateway", description="None subscribes without $share/")
    batch_max: int = Field(default=500, ge=1, le=10000)

    @field_validator("shared_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#")):
            raise ValueError("must be a non-empty name without '/', '+' or '#'")
        return value


class GatewayConfig(StrictModel):
    database_url: str | None = Field(
        default=None, description="postgresql://...; absent: an embedded PostgreSQL under data_dir/pg"
    )
    data_dir: Path = Path("./var/gateway")
    http: HostPort = "127.0.0.1:8080"
    mqtt: MqttConfig = MqttConfig()

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value
