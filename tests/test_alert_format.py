import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wangge import alert_format


def alert(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "v": 1,
        "alert_id": str(uuid.uuid4()),
        "seq": 0,
        "event": "start",
        "edge_id": "estate-1",
        "source": {"kind": "sensor", "device_id": "g1", "metric": "water_level"},
        "rule_id": "flood",
        "category": "emergencies.water_logging",
        "severity": "major",
        "title": "Water",
        "started_at": "2026-07-01T00:00:00.000Z",
        "at": "2026-07-01T00:00:00.000Z",
        "emitted_at": "2026-07-01T00:00:10Z",
        "value": 23.5,
    }
    base.update(changes)
    return base


def test_a_valid_alert_parses_and_has_the_default_correlation_key() -> None:
    message = alert_format.parse_alert(json.dumps(alert()).encode())
    assert alert_format.correlation_key(message) == "estate-1/g1/flood"
    # A chosen key stays inside the sender's namespace: edge estate-1 cannot name estate-2's tickets.
    assert alert_format.correlation_key(alert(correlation_key="k")) == "estate-1/k"
    assert alert_format.correlation_key(alert(correlation_key="estate-1/pump")) == "estate-1/pump"
    assert alert_format.correlation_key(alert(correlation_key="estate-2/g1/flood")) == "estate-1/estate-2/g1/flood"


@pytest.mark.parametrize(
    ("message", "reason", "fragment"),
    [
        (b"{", "not_json", "Expecting"),
        (json.dumps(alert(v=2)).encode(), "schema", "v: 1 was expected"),
        (json.dumps(alert(seq=3)).encode(), "schema", "seq: 0 was expected"),
        (json.dumps(alert(event="end", seq=1)).encode(), "schema", "'ended_at' is a required property"),
        (json.dumps(alert(alert_id="not-a-uuid")).encode(), "schema", "alert_id"),
        (json.dumps(alert(severity="apocalyptic")).encode(), "schema", "severity"),
        (json.dumps(alert(extra=1)).encode(), "schema", "Additional properties"),
        (json.dumps(alert(started_at="yesterday")).encode(), "schema", "started_at"),
        (json.dumps(alert(started_at="2026-02-30T00:00:00Z")).encode(), "schema", "started_at must be date-time"),
        (json.dumps(alert(value=float("nan"))).encode(), "not_json", "NaN"),
        # UTF-8 only (RFC 8259 §8.1): json.loads alone would take both.
        (json.dumps(alert()).encode("utf-16"), "not_json", "utf-8"),
        (b"\xef\xbb\xbf" + json.dumps(alert()).encode(), "not_json", "BOM"),
        (b"x" * (alert_format.MAX_ALERT_BYTES + 1), "too_large", "bytes"),
        # Valid JSON that no later step can hold: PostgreSQL's jsonb refuses NUL, UTF-8 refuses lone surrogates.
        (json.dumps(alert(title="a\u0000b")).encode(), "bad_value", "/title: contains a NUL character"),
        (json.dumps(alert(attributes={"k": "\ud800"})).encode(), "bad_value", "/attributes/k: contains an unpaired"),
        (json.dumps(alert(attributes={"\u0000": 1})).encode(), "bad_value", "NUL"),
        (json.dumps(alert(attributes={"a": [[[[[[[[1]]]]]]]]})).encode(), "bad_value", "nested deeper than 8"),
        (json.dumps(alert(attributes={"n": 10**30})).encode(), "bad_value", "/attributes/n: integer out of range"),
        (json.dumps(alert()).replace('"value": 23.5', '"value": 1e400').encode(), "not_json", "too large"),
        (json.dumps(alert(event="end", seq=1, ended_at="2026-01-01T00:00:00Z")).encode(), "time_order", "before"),
    ],
)
def test_bad_alerts_are_refused_with_reason_and_place(message: bytes, reason: str, fragment: str) -> None:
    with pytest.raises(alert_format.AlertFormatError) as info:
        alert_format.parse_alert(message)
    assert info.value.reason == reason
    assert fragment in info.value.detail


@pytest.mark.parametrize(
    "changes",
    [
        {"v": 2},
        {"seq": 3},
        {"event": "end", "seq": 1},
        {"alert_id": "x"},
        {"severity": "x"},
        {"extra": 1},
        {"started_at": "2026-07-01 00:00"},
        {"source": {"kind": "sensor"}},
        {"category": "Bad Cat"},
        {"attributes": []},
        {"title": ""},
    ],
)
def test_both_validators_agree_on_what_is_invalid(changes: dict[str, Any]) -> None:
    message = alert(**changes)
    assert not alert_format.is_valid(message)
    assert alert_format.schema_errors(message) != []


def test_a_missing_field_is_named() -> None:
    message = alert()
    del message["rule_id"]
    assert alert_format.schema_errors(message) == ["(root): 'rule_id' is a required property"]


def _unfit(value: Any, depth: int = 0) -> set[str]:
    """The problems json_problem must report somewhere in `value`, from its rules alone (max depth 8)."""
    if isinstance(value, str):
        found = {"contains a NUL character"} if "\x00" in value else set()
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            found.add("contains an unpaired surrogate")
        return found
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return set()
    if isinstance(value, int):
        return set() if abs(value) <= 2**53 else {"integer out of range"}
    if depth >= 8:
        return {"nested deeper than 8"}
    children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    return set().union(*(_unfit(child, depth + 1) for child in children))


# Joined by hand: st.text drops surrogates from an alphabet it is given as a union.
_text = st.lists(st.sampled_from(["a", "é", "中", "\x00", "\ud800", "\udfff"]) | st.characters(), max_size=4).map(
    "".join
)
_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers(-(2**60), 2**60) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=30,
)


def _nested(value: Any, levels: list[bool]) -> Any:
    for in_list in levels:
        value = [value] if in_list else {"k": value}
    return value


@settings(max_examples=400, deadline=None)
@given(st.builds(_nested, _json, st.lists(st.booleans(), max_size=10)))
def test_json_problem_finds_exactly_what_its_rules_refuse(value: Any) -> None:
    problems = _unfit(value)
    found = alert_format.json_problem(value)
    if not problems:
        assert found is None
    else:
        assert found is not None
        assert found.rsplit(": ", 1)[1] in problems, (found, problems)
