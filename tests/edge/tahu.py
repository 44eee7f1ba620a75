"""Eclipse Tahu's own generated Sparkplug B schema (shipped by mqtt-spb-wrapper), loaded without the package.

It is the independent reference our hand-built descriptor is checked against, and what the tests encode
with, so a wrong field number on our side cannot pass by agreeing with itself.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def load() -> ModuleType:
    spec = importlib.util.find_spec("mqtt_spb_wrapper")
    if spec is None or spec.submodule_search_locations is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("mqtt-spb-wrapper is missing: `make test` installs it (pip install --no-deps)")
        pytest.skip("mqtt-spb-wrapper (Eclipse Tahu's Sparkplug schema) is not installed; `make test` installs it")
    path = Path(next(iter(spec.submodule_search_locations))) / "spb_protobuf" / "sparkplug_b_pb2.py"
    module_spec = importlib.util.spec_from_file_location("tahu_sparkplug_b_pb2", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


_cached: ModuleType | None = None


def tahu() -> ModuleType:
    global _cached
    if _cached is None:
        _cached = load()
    return _cached


def spb(seq: int | None, metrics: list[tuple[str | None, int | None, int, str, Any]], ts: int = 1795420800000) -> bytes:
    """A payload encoded with Tahu's schema: metrics as (name, alias, datatype, value field, value)."""
    message = tahu().Payload(timestamp=ts)
    if seq is not None:
        message.seq = seq
    for name, alias, datatype, field, value in metrics:
        metric = message.metrics.add(datatype=datatype)
        if name is not None:
            metric.name = name
        if alias is not None:
            metric.alias = alias
        setattr(metric, field, value)
    return bytes(message.SerializeToString())
