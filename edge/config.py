"""The edge config file (edge.yaml), validated before anything starts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from wangge.configfile import BrokerUrl, HostPort, Ident, StrictModel, cross_check_error
from wangge.edge.profiles import BUILTIN, DeviceProfile
from wangge.edge.rule_config import RuleConfig, ThresholdRule
from wangge.edge.topics import TopicPattern
from wangge.edge.video.config import CameraConfig, VideoConfig

__all__ = ["AvailabilityTopic", "DeviceConfig", "EdgeConfig", "MetricMap", "SensorTopic", "ThresholdRule"]

PayloadFormat = Literal["json", "plain", "auto", "zigbee2mqtt", "tasmota", "homeassistant", "sparkplug_b"]


class MetricMap(StrictModel):
    """Where one metric sits in a payload: a JSON pointer, or `plain` for a payload that is only a number."""

    name: Ident
    pointer: str = "plain"
    unit: str | None = Field(default=None, max_length=32)
    unit_pointer: str | None = Field(
        default=None, description="JSON pointer to the unit the device states; a different unit is rejected"
    )

    @model_validator(mode="after")
    def _unit_pointer(self) -> MetricMap:
        if self.unit_pointer is not None and (self.unit is None or not self.unit_pointer.startswith("/")):
            raise ValueError("unit_pointer needs 'unit' (the unit expected) and must start with '/'")
        return self

    @field_validator("pointer")
    @classmethod
    def _pointer(cls, value: str) -> str:
        if value != "plain" and not value.startswith("/"):
            raise ValueError("must be 'plain' or a JSON pointer starting with '/' (e.g. /level_cm)")
        return value


def _check_template(template: str, topic: str, extra: frozenset[str] = frozenset()) -> None:
    names = set(TopicPattern(topic).names) | extra
    unknown = set(re.findall(r"{(\w+)}", template)) - names
    if unknown:
        raise ValueError(f"device template uses {sorted(unknown)}, not captured by the topic {topic!r}")
    if not template.strip():
        raise ValueError("device must not be empty")


SPARKPLUG_FIELDS = frozenset({"group", "node", "device"})


class SensorTopic(StrictModel):
    """A topic pattern (`+name` captures one level), how its payloads are written, and the metrics they carry.

    `format: json` takes each metric from its JSON pointer; `plain` is a bare number or ON/OFF word; the
    ecosystem formats (`auto`, `zigbee2mqtt`, `tasmota`, `homeassistant`) take every number and switch in
    the payload, named in snake case and renamed by `rename`; when `metrics` is given they keep only those.
    `sparkplug_b` decodes Sparkplug B protobuf (topic `spBv1.0/...`; device template fields {group},
    {node}, {device}).
    """

    topic: str
    device: str = Field(description="device id, may use captures: '{device}' or 'gauge-{building}'")
    format: PayloadFormat = "json"
    metrics: list[MetricMap] = Field(default_factory=list)
    rename: dict[str, Ident] = Field(default_factory=dict, description="payload name -> metric name")
    timestamp_pointer: str | None = Field(default=None, description="JSON pointer to ISO 8601 or epoch s/ms")
    profile: Ident | None = Field(default=None, description="device profile of every device on this topic")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        TopicPattern(value)
        return value

    @model_validator(mode="after")
    def _shape(self) -> SensorTopic:
        sparkplug = self.format == "sparkplug_b"
        if sparkplug and not self.topic.startswith("spBv1.0/"):
            raise ValueError("a sparkplug_b mapping's topic must start with 'spBv1.0/' (e.g. spBv1.0/estate1/#)")
        _check_template(self.device, self.topic, SPARKPLUG_FIELDS if sparkplug else frozenset())
        if self.format in ("json", "plain") and not self.metrics:
            raise ValueError(f"format {self.format!r} needs 'metrics' (which values to read)")
        if self.format == "plain" and (len(self.metrics) != 1 or self.metrics[0].pointer != "plain"):
            raise ValueError("format 'plain' carries exactly one metric, with pointer 'plain'")
        if self.format not in ("json", "plain") and any(m.pointer != "plain" for m in self.metrics):
            raise ValueError(f"format {self.format!r} names metrics, not pointers: use 'rename' to map names")
        return self


class AvailabilityTopic(StrictModel):
    """A status / LWT topic: its payload says whether the device is online (`online` words) or not."""

    topic: str
    device: str = Field(description="device id, may use captures")
    online: list[str] = Field(default_factory=lambda: ["online", "true", "1", "connected"], min_length=1)
    offline: list[str] = Field(default_factory=lambda: ["offline", "false", "0", "disconnected", "lost"], min_length=1)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        TopicPattern(value)
        return value

    @field_validator("online", "offline")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        """Payload words are compared without case ("Online" is "online"), so store them lower-cased once."""
        return [w.lower() for w in value]

    @model_validator(mode="after")
    def _template(self) -> AvailabilityTopic:
        _check_template(self.device, self.topic)
        return self


class DeviceConfig(StrictModel):
    """A device known in advance: its profile, and rules changed for it alone."""

    id: Ident
    profile: Ident
    heartbeat_s: float | None = Field(default=None, gt=0, le=30 * 86400)
    rules: dict[Ident, dict[str, Any]] = Field(
        default_factory=dict, description="rule id -> fields to change, e.g. {flooding: {for_s: 60}}"
    )
    cameras: list[Ident] = Field(
        default_factory=list, max_length=16, description="报警联动: cameras whose clips this device's alerts get"
    )


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
    max_clock_skew_s: float = Field(
        default=300, ge=0, le=86400, description="a payload time further ahead of the edge clock is replaced"
    )
    heartbeat_s: float | None = Field(
        default=None, gt=0, le=30 * 86400, description="offline timeout for devices whose profile sets none"
    )
    learnt_state_save_s: float = Field(
        default=300,
        ge=5,
        le=86400,
        description="how often what the anomaly detectors learnt is saved to the outbox (also at shutdown)",
    )
    sensors: list[SensorTopic] = Field(default_factory=list)
    availability: list[AvailabilityTopic] = Field(default_factory=list)
    profiles: list[DeviceProfile] = Field(default_factory=list, description="new profiles, or built-ins replaced")
    devices: list[DeviceConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    video: VideoConfig = VideoConfig()
    cameras: list[CameraConfig] = Field(default_factory=list)

    def linked_cameras(self) -> dict[str, list[str]]:
        """报警联动: sensor device id → the cameras its alerts get clips from."""
        return {d.id: list(d.cameras) for d in self.devices if d.cameras}

    def all_profiles(self) -> dict[str, DeviceProfile]:
        return {**BUILTIN, **{p.name: p for p in self.profiles}}

    @model_validator(mode="after")
    def _cross_checks(self) -> EdgeConfig:
        profiles = self.all_profiles()
        explicit = {m.name for s in self.sensors for m in s.metrics}
        open_ended = any(s.format not in ("json", "plain") and not s.metrics for s in self.sensors)
        problems = []
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.metric not in explicit and not open_ended:
                problems.append(f"rules[{i}].metric: {rule.metric!r} is not produced by any sensors[] mapping")
            if rule.id in seen:
                problems.append(f"rules[{i}].id: {rule.id!r} is used twice")
            seen.add(rule.id)
        for i, sensor in enumerate(self.sensors):
            if sensor.profile is None:
                continue
            profile = profiles.get(sensor.profile)
            if profile is None:
                problems.append(f"sensors[{i}].profile: unknown profile {sensor.profile!r}; known: {sorted(profiles)}")
                continue
            for j, metric in enumerate(sensor.metrics):
                if metric.name not in profile.metrics:
                    problems.append(
                        f"sensors[{i}].metrics[{j}].name: {metric.name!r} is not a metric of profile "
                        f"{profile.name!r} ({', '.join(profile.metrics)})"
                    )
        ids: set[str] = set()
        cameras = {c.id for c in self.cameras}
        for i, device in enumerate(self.devices):
            if device.id in ids:
                problems.append(f"devices[{i}].id: {device.id!r} is listed twice")
            ids.add(device.id)
            for j, camera in enumerate(device.cameras):
                if camera not in cameras:
                    problems.append(f"devices[{i}].cameras[{j}]: {camera!r} is not one of this edge's cameras")
            profile = profiles.get(device.profile)
            if profile is None:
                problems.append(f"devices[{i}].profile: unknown profile {device.profile!r}; known: {sorted(profiles)}")
                continue
            try:
                profile.with_overrides(device.rules, device.heartbeat_s)
            except ValueError as exc:
                problems.append(f"devices[{i}].rules: {' '.join(str(exc).split())[:400]}")
        if problems:
            raise cross_check_error(problems)
        return self
