"""The gateway config file (gateway.yaml): each section is defined by the concern that reads it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from wangge.configfile import HostPort, StrictModel
from wangge.gateway.accounts.config import AccountsConfig
from wangge.gateway.cases.config import CasesConfig
from wangge.gateway.console.config import ConsoleConfig
from wangge.gateway.ingest.config import IngestConfig, MqttConfig
from wangge.gateway.intake.config import IntakeConfig
from wangge.gateway.media.config import MediaConfig
from wangge.gateway.storage.config import RetentionConfig
from wangge.gateway.webhooks.config import WebhooksConfig


class GatewayConfig(StrictModel):
    database_url: str | None = Field(
        default=None, description="postgresql://...; absent: an embedded PostgreSQL under data_dir/pg"
    )
    data_dir: Path = Path("./var/gateway")
    http: HostPort = "127.0.0.1:8080"
    mqtt: MqttConfig = MqttConfig()
    ingest: IngestConfig = IngestConfig()
    cases: CasesConfig = CasesConfig()
    accounts: AccountsConfig = AccountsConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    retention: RetentionConfig = RetentionConfig()
    console: ConsoleConfig = ConsoleConfig()
    intake: IntakeConfig = IntakeConfig()
    media: MediaConfig = MediaConfig()

    def webhook_keys_file(self) -> Path:
        return self.webhooks.secret_keys_file or self.data_dir / "webhook-keys"

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _resident_categories(self) -> GatewayConfig:
        catalogue = self.cases.catalogue()
        unknown = [c.code for c in self.intake.categories if c.category not in catalogue.entries]
        if unknown:
            raise ValueError(f"intake.categories {', '.join(unknown)}: their category is not in the catalogue")
        return self
