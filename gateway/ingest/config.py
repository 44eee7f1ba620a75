"""The `mqtt:` and `ingest:` sections of gateway.yaml: the central broker ingest subscribes to, and what it accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    writers: int = Field(
        default=2,
        ge=1,
        le=8,
        description="batches written at once per replica: one is validated while another waits for PostgreSQL;"
        " replicas sharing a small box do better with 1 each (docs/benchmarks.md)",
    )
    broker_hooks_secret_file: Path | None = Field(
        default=None,
        description="EMQX's HTTP authentication and authorisation call the gateway with this bearer secret"
        " (docker/emqx/base.hocon); absent: the hooks are off",
    )
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


class IngestConfig(StrictModel):
    """The `ingest:` section: which edges are heard, and how far an event's times may be from the gateway's."""

    registry: Literal["strict", "open"] = Field(
        default="open",
        description="strict: alerts and status only from edges in the registry (wangge admin create-edge); "
        "open: any authenticated edge",
    )
    max_event_age_days: float = Field(
        default=180,
        gt=0,
        le=3650,
        description="older events are refused (as long as retention keeps alert events, by default)",
    )
    max_clock_ahead_s: float = Field(default=300, ge=0, le=86400, description="events further ahead are refused")
    queue_max: int = Field(default=20000, ge=100, le=1_000_000, description="messages held between broker and writer")
