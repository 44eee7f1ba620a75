"""Sparkplug B (Eclipse Sparkplug 3.0) payloads: births, data and deaths of edge nodes and their devices.

The protobuf schema is the Payload / Metric part of Eclipse Tahu's `sparkplug_b.proto`, built here as a
descriptor so no generated code or protoc is needed; fields we do not read (properties, datasets,
templates) are skipped by protobuf as unknown fields. Decoding is protobuf's own.

What a host must track, and this does per edge node:
- metric aliases: BIRTH messages give `name` + `alias`; DATA messages may carry only the alias;
- sequence numbers: every message of a node after NBIRTH carries seq = previous + 1 (mod 256); a gap
  means lost messages, so the node is asked to publish its births again (NCMD `Node Control/Rebirth`);
- bdSeq: an NDEATH (the node's MQTT will) counts only if its bdSeq matches the current NBIRTH's; a death
  certificate of an earlier session arriving late must not mark a live node dead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from wangge.edge.formats import snake

_F = descriptor_pb2.FieldDescriptorProto
_METRIC_FIELDS = [
    ("name", 1, _F.TYPE_STRING, None),
    ("alias", 2, _F.TYPE_UINT64, None),
    ("timestamp", 3, _F.TYPE_UINT64, None),
    ("datatype", 4, _F.TYPE_UINT32, None),
    ("is_historical", 5, _F.TYPE_BOOL, None),
    ("is_transient", 6, _F.TYPE_BOOL, None),
    ("is_null", 7, _F.TYPE_BOOL, None),
    ("int_value", 10, _F.TYPE_UINT32, 0),
    ("long_value", 11, _F.TYPE_UINT64, 0),
    ("float_value", 12, _F.TYPE_FLOAT, 0),
    ("double_value", 13, _F.TYPE_DOUBLE, 0),
    ("boolean_value", 14, _F.TYPE_BOOL, 0),
    ("string_value", 15, _F.TYPE_STRING, 0),
    ("bytes_value", 16, _F.TYPE_BYTES, 0),
]
_PAYLOAD_FIELDS = [
    ("timestamp", 1, _F.TYPE_UINT64),
    ("seq", 3, _F.TYPE_UINT64),
    ("uuid", 4, _F.TYPE_STRING),
    ("body", 5, _F.TYPE_BYTES),
]

# Sparkplug data types (the numbers in Metric.datatype) that carry a number we can judge.
INT32_TYPES = {1, 2, 3}  # Int8/16/32: two's complement in a uint32
UINT32_TYPES = {5, 6, 7}
INT64, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME = 4, 8, 9, 10, 11, 12, 13


def _build() -> Any:
    file = descriptor_pb2.FileDescriptorProto(name="wangge_sparkplug_b.proto", package="org.eclipse.tahu.protobuf")
    payload = file.message_type.add(name="Payload")
    for name, number, kind in _PAYLOAD_FIELDS:
        payload.field.add(name=name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
    payload.field.add(
        name="metrics",
        number=2,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_REPEATED,
        type_name=".org.eclipse.tahu.protobuf.Payload.Metric",
    )
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    for name, number, kind, oneof in _METRIC_FIELDS:
        added = metric.field.add(name=name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
        if oneof is not None:
            added.oneof_index = oneof
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload"))


Payload = _build()

NODE_TYPES = {"NBIRTH", "NDATA", "NDEATH"}
DEVICE_TYPES = {"DBIRTH", "DDATA", "DDEATH"}


class SparkplugError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong that did not stop the message: `reason` is a metrics label, `detail` for the log."""

    reason: Literal["no_birth", "stale_death", "sequence_gap", "unknown_alias"]
    detail: str


@dataclass(frozen=True, slots=True)
class SparkplugMetric:
    name: str
    value: float
    ts: float | None


@dataclass(frozen=True, slots=True)
class SparkplugMessage:
    kind: str  # NBIRTH ... DDEATH
    group: str
    node: str
    device: str | None
    metrics: tuple[SparkplugMetric, ...] = ()
    dead_devices: tuple[str, ...] = ()  # an NDEATH takes its node's devices with it
    rebirth: bool = False  # the host should ask the node for its births again
    problem: Problem | None = None


@dataclass(slots=True)
class _Node:
    bd_seq: int | None = None
    seq: int | None = None
    aliases: dict[tuple[str | None, int], str] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)


def split_topic(topic: str) -> tuple[str, str, str, str | None]:
    """spBv1.0/<group>/<type>/<node>[/<device>] -> (group, type, node, device)."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != "spBv1.0":
        raise SparkplugError("bad_topic", "not spBv1.0/<group>/<type>/<node>[/<device>]")
    group, kind, node = parts[1], parts[2], parts[3]
    device = parts[4] if len(parts) == 5 else None
    if kind not in NODE_TYPES | DEVICE_TYPES:
        raise SparkplugError("not_a_reading", f"message type {kind}")
    if (kind in DEVICE_TYPES) != (device is not None):
        raise SparkplugError("bad_topic", f"{kind} with{'out' if device is None else ''} a device level")
    return group, kind, node, device


def _value(metric: Any) -> float | None:
    if metric.is_null:
        return None
    which = metric.WhichOneof("value")
    datatype = metric.datatype
    if which == "int_value":
        raw = int(metric.int_value)
        return float(raw - (1 << 32) if datatype in INT32_TYPES and raw >= 1 << 31 else raw)
    if which == "long_value":
        raw = int(metric.long_value)
        return float(raw - (1 << 64) if datatype == INT64 and raw >= 1 << 63 else raw)
    if which in ("float_value", "double_value"):
        number = float(getattr(metric, which))
        return number if math.isfinite(number) else None
    if which == "boolean_value":
        return 1.0 if metric.boolean_value else 0.0
    return None


class SparkplugHost:
    """Per-node state of a Sparkplug host application (aliases, seq, bdSeq); decodes one message at a time."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str], _Node] = {}

    def decode(self, topic: str, payload: bytes) -> SparkplugMessage:
        group, kind, node_name, device = split_topic(topic)
        message = Payload()
        try:
            message.ParseFromString(payload)
        except DecodeError as exc:
            raise SparkplugError("bad_protobuf", str(exc)[:120]) from None
        key = (group, node_name)
        node = self._nodes.get(key)
        if kind == "NBIRTH":
            node = self._nodes[key] = _Node()
            for m in message.metrics:
                if m.name == "bdSeq":
                    node.bd_seq = int(m.long_value or m.int_value)
        elif node is None:
            no_birth = Problem("no_birth", "no NBIRTH seen")
            return SparkplugMessage(kind, group, node_name, device, rebirth=kind != "NDEATH", problem=no_birth)
        if kind == "NDEATH":
            bd_seq = next((int(m.long_value or m.int_value) for m in message.metrics if m.name == "bdSeq"), None)
            if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
                stale = Problem("stale_death", f"stale NDEATH bdSeq {bd_seq}")
                return SparkplugMessage(kind, group, node_name, None, problem=stale)
            dead = tuple(sorted(node.devices))
            del self._nodes[key]
            return SparkplugMessage(kind, group, node_name, None, dead_devices=dead)
        problem: Problem | None = None
        rebirth = False
        seq = int(message.seq) if message.HasField("seq") else None
        if kind != "NBIRTH" and seq is not None and node.seq is not None and seq != (node.seq + 1) % 256:
            problem, rebirth = Problem("sequence_gap", f"sequence gap: {node.seq} then {seq}"), True
        node.seq = seq if seq is not None else node.seq
        if kind == "DBIRTH":
            assert device is not None
            node.devices.add(device)
            node.aliases = {k: v for k, v in node.aliases.items() if k[0] != device}
        if kind == "DDEATH":
            assert device is not None
            node.devices.discard(device)
            return SparkplugMessage(kind, group, node_name, device, problem=problem, rebirth=rebirth)
        metrics = []
        payload_ts = message.timestamp / 1000.0 if message.HasField("timestamp") else None
        for m in message.metrics:
            name = m.name
            if kind.endswith("BIRTH") and name and m.HasField("alias"):
                node.aliases[(device, int(m.alias))] = name
            if not name and m.HasField("alias"):
                found = node.aliases.get((device, int(m.alias)))
                if found is None:
                    problem, rebirth = Problem("unknown_alias", f"unknown alias {m.alias}"), True
                    continue
                name = found
            if not name or name == "bdSeq" or name.startswith(("Node Control/", "Device Control/", "Properties/")):
                continue
            value = _value(m)
            if value is None:
                continue
            ts = m.timestamp / 1000.0 if m.HasField("timestamp") else payload_ts
            metrics.append(SparkplugMetric(name, value, ts))
        return SparkplugMessage(kind, group, node_name, device, tuple(metrics), problem=problem, rebirth=rebirth)


def rebirth_request(timestamp_ms: int) -> bytes:
    """The NCMD payload asking a node to publish NBIRTH and DBIRTHs again."""
    message = Payload(timestamp=timestamp_ms)
    metric = message.metrics.add(name="Node Control/Rebirth", datatype=BOOLEAN)
    metric.boolean_value = True
    return bytes(message.SerializeToString())


def metric_name(raw: str, rename: dict[str, str]) -> str:
    return rename.get(raw) or rename.get(snake(raw)) or snake(raw)
