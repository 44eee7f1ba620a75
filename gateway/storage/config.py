"""The `retention:` section of gateway.yaml: how long each kind of data is kept."""

from __future__ import annotations

from pydantic import Field, model_validator

from wangge.configfile import StrictModel


class RetentionConfig(StrictModel):
    """How long each kind of data is kept (days; null keeps it forever) and how often the job runs.

    Alerts and raw alert events go by whole month partitions, so they are kept between `days` and
    `days` + one month. Tickets, their history and people's photos are records and are never expired;
    a snapshot or clip goes with its object in the store."""

    interval_s: float = Field(default=3600, gt=0, le=86400)
    partitions_ahead_months: int = Field(default=2, ge=1, le=24)
    alert_events_days: int | None = Field(default=180, ge=1)
    alerts_days: int | None = Field(default=None, ge=1)
    snapshots_days: int | None = Field(default=30, ge=1)
    clips_days: int | None = Field(default=30, ge=1)
    dead_letters_days: int | None = Field(default=30, ge=1)
    webhook_history_days: int | None = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _events_outlive_nothing(self) -> RetentionConfig:
        events, alerts = self.alert_events_days, self.alerts_days
        if alerts is not None and (events is None or events > alerts):
            raise ValueError("alert_events_days must not exceed alerts_days: an event needs its alert")
        return self
