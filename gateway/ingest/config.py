"""The `mqtt:` section of gateway.yaml: the central broker ingest subscribes to."""

from __future__ import annotations

from pydantic import Field, field_validator

from wangge.configfile import BrokerUrl, StrictModel


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
    persistent_session: bool | None = Field(
        default=None,
        description="null: persistent without a shared group, clean with one (a dead replica leaves the group)",
    )

    def persistent(self) -> bool:
        """Mosquitto keeps routing a shared subscription's share to a member whose persistent session
        outlives its process: a replica that died and stays dead would swallow 1/N of the alerts until the
        edges re-send them. A clean session leaves the group the moment the connection drops; what that
        replica had taken but not stored is re-sent by its edge (uplink confirmations, docs/delivery.md)."""
        if self.persistent_session is not None:
            return self.persistent_session
        return self.shared_group is None

    @field_validator("shared_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#")):
            raise ValueError("must be a non-empty name without '/', '+' or '#'")
        return value
