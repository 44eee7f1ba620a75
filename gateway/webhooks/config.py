"""The `webhooks:` section of gateway.yaml: allowed networks, timeouts, retries, circuit breaker."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import Field, field_validator

from wangge.configfile import StrictModel

DEFAULT_RETRY_SCHEDULE = ["5s", "5m", "30m", "2h", "5h", "10h", "10h", "10h", "10h", "10h", "10h"]


class WebhooksConfig(StrictModel):
    """Delivery: after the first attempt, one more per `retry_schedule` step (about three days by default)."""

    secret_keys_file: Path | None = Field(
        default=None,
        description="Fernet keys sealing webhook URLs and secrets, newest first (default <data_dir>/webhook-keys;"
        " WANGGE_WEBHOOK_KEYS overrides)",
    )
    secret_overlap_h: float = Field(
        default=72, ge=0, le=24 * 90, description="a rotated standard secret keeps signing beside the new one this long"
    )
    allow_networks: list[str] = Field(
        default_factory=list, description="CIDRs that may be webhook targets although private (e.g. 127.0.0.1/32)"
    )
    connect_timeout_s: float = Field(default=5, gt=0, le=60)
    read_timeout_s: float = Field(default=10, gt=0, le=120)
    retry_schedule: list[str] = Field(default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE), min_length=1)
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_open_s: float = Field(default=60, gt=0, le=86400)
    poll_s: float = Field(default=0.5, gt=0, le=60)
    lease_s: float = Field(default=60, gt=0, le=3600)
    batch: int = Field(default=200, ge=1, le=5000)
    concurrency: int = Field(default=32, ge=1, le=1000)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR range") from None
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: list[str]) -> list[str]:
        for text in value:
            _duration_seconds(text)
        return value

    def schedule_seconds(self) -> list[float]:
        return [_duration_seconds(t) for t in self.retry_schedule]


def _duration_seconds(text: str) -> float:
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$", text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 500ms, 5s, 5m, 2h or 1d")
    return float(match[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
