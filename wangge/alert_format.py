"""The alert wire format: one JSON Schema file, used by the edge before sending and the gateway on receipt.

Two validators read the same file: fastjsonschema (compiled, about 9 µs an alert) decides, and jsonschema
(about 170 µs) runs only on a refused message, to list every problem by its path.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

SCHEMA_VERSION = 1
SCHEMA_RESOURCE = "alert.v1.schema.json"
MAX_ALERT_BYTES = 64 * 1024


class AlertFormatError(ValueError):
    """An alert message that cannot be accepted; `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@cache
def alert_schema() -> dict[str, Any]:
    text = resources.files("wangge.schemas").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(alert_schema())


@cache
def _fast_validator() -> Any:
    return fastjsonschema.compile(alert_schema())


def _fast_error(message: Any) -> str | None:
    try:
        _fast_validator()(message)
    except fastjsonschema.JsonSchemaException as exc:
        return str(getattr(exc, "message", exc)).removeprefix("data.").removeprefix("data ")
    return None


def is_valid(message: Any) -> bool:
    return _fast_error(message) is None


def schema_errors(message: Any) -> list[str]:
    """Every violation of the schema, each as `path: reason`, in a stable order."""
    errors = sorted(_validator().iter_errors(message), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{e.json_path.removeprefix('$.') if e.absolute_path else '(root)'}: {e.message}" for e in errors]


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_alert(payload: bytes) -> dict[str, Any]:
    """Decode and validate one alert message, raising AlertFormatError with what was wrong."""
    if len(payload) > MAX_ALERT_BYTES:
        raise AlertFormatError("too_large", f"{len(payload)} bytes > {MAX_ALERT_BYTES}")
    try:
        message = json.loads(payload, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise AlertFormatError("not_json", str(exc)) from None
    fast_error = _fast_error(message)
    if fast_error is not None:
        # jsonschema lists every problem by path; only the compiled validator checks formats (dates, uuids).
        errors = schema_errors(message) or [fast_error]
        raise AlertFormatError("schema", "; ".join(errors[:20]))
    for key in ("value", "threshold"):
        value = message.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise AlertFormatError("schema", f"{key}: must be finite")
    assert isinstance(message, dict)
    return message


def correlation_key(message: dict[str, Any]) -> str:
    key = message.get("correlation_key")
    if isinstance(key, str):
        return key
    return f"{message['edge_id']}/{message['source']['device_id']}/{message['rule_id']}"


def iso(ts: float) -> str:
    """Epoch seconds as an RFC 3339 UTC timestamp with milliseconds, the form every alert uses."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
