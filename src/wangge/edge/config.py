"""The edge config file (edge.yaml), validated before anything starts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from wangge.configfile import BrokerUrl, HostPort, Ident, StrictModel, cross_check_error
from wangge.detectors.threshold import ThresholdSpec
from wangge.edge.topics import TopicPattern

Category = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")]
Severity = Literal["info", "minor", "major", "critical"]


class MetricMap(StrictModel):
    """Where one metric sits in a payload: a JSON pointer, or `plain` for a payload that is only a number."""

    name: Ident
    pointer: str = "plain"
    unit: str | None = Field(default=None, max_length=32)

    @field_validator("pointer")
    @classmethod
    def _pointer(cls, value: str) -> str:
        if value != "plain" and not value.startswith("/"):
            raise ValueError("must be 'plain' or a JSON pointer starting with '/' (e.g. /level_cm)")
        return value


class SensorTopic(StrictModel):
    """A topic pattern (`+name` captures one level) and the metrics its payloads carry."""

    topic: str
    device: str = Field(description="device id, may use captures: '{device}' or 'gauge-{building}'")
    metrics: list[MetricMap] = Field(min_length=1)
    timestamp_pointer: str | None = Field(default=None, description="JSON pointer to ISO 8601 or epoch s/ms")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        TopicPattern(value)
        return value

    @model_validator(mode="after")
    def _device_template(self) -> SensorTopic:
        names = set(TopicPattern(self.topic).names)
        used = set(re.findall(r"{(\w+)}", self.device))
        unknown = used - names
        if unknown:
            raise ValueError(f"device template uses {sorted(unknown)}, not captured by the topic {self.topic!r}")
        if not self.device.strip():
            raise ValueError("device must not be empty")
        return self


class ThresholdRule(StrictModel):
    """Raise when `metric` is above (or below) a level for `for_s`; clear past `clear` for `clear_for_s`."""

    id: Ident
    metric: Ident
    devices: list[Ident] | None = Field(default=None, description="limit to these devices; all when absent")
    above: float | None = None
    below: float | None = None
    clear: float
    for_s: float = Field(default=0.0, ge=0, le=86400)
    clear_for_s: float = Field(default=0.0, ge=0, le=86400)
    severity: Severity = "major"
    category: Category
    title: str = Field(
        default="{metric} {value:g}{unit} {direction} {level:g}{unit} at {device}", min_length=1, max_length=300
    )

    @model_validator(mode="after")
    def _levels(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        try:
            self.spec()
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self

    def spec(self) -> ThresholdSpec:
        if self.above is not None:
            return ThresholdSpec(self.above, self.clear, "above", self.for_s, self.clear_for_s)
        assert self.below is not None
        return ThresholdSpec(self.below, self.clear, "below", self.for_s, self.clear_for_s)


class UplinkConfig(StrictModel):
    broker: BrokerUrl = Field(description="central broker, mqtt://host:port or mqtts://")
    client_id: str | None = Field(default=None, max_length=128)
    max_inflight: int = Field(default=100, ge=1, le=10000, description="QoS 1 publishes awaiting PUBACK")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    confirm_timeout_s: float = Field(
        default=30.0, ge=1, le=3600, description="send an event again if the gateway has not confirmed it by then"
    )


class EdgeConfig(StrictModel):
    edge_id: Ident
    sensor_broker: BrokerUrl = Field(description="the estate's broker the sensors publish to")
    uplink: UplinkConfig
    data_dir: Path = Path("./var/edge")
    http: HostPort | None = Field(default=None, description="host:port for /healthz and /metrics; off when absent")
    max_payload_bytes: int = Field(default=65536, ge=64, le=16 * 1024 * 1024)
    sensors: list[SensorTopic] = Field(default_factory=list)
    rules: list[ThresholdRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> EdgeConfig:
        metrics = {m.name for s in self.sensors for m in s.metrics}
        problems = []
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.metric not in metrics:
                problems.append(f"rules[{i}].metric: {rule.metric!r} is not produced by any sensors[] mapping")
            if rule.id in seen:
                problems.append(f"rules[{i}].id: {rule.id!r} is used twice")
            seen.add(rule.id)
        if problems:
            raise cross_check_error(problems)
        return self
