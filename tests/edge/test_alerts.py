import json
from pathlib import Path

from wangge import alert_format
from wangge.detectors.readings import Reading, Transition
from wangge.detectors.rules import RuleEvent
from wangge.edge.alerts import AlertComposer
from wangge.edge.config import ThresholdRule
from wangge.edge.outbox import Outbox

RULE = ThresholdRule.model_validate(
    {
        "id": "flood",
        "metric": "water_level",
        "above": 20,
        "clear": 15,
        "category": "emergencies.water_logging",
        "title": "Water {value:g}{unit} at {device}",
    }
)


def event(kind: str, at: float, value: float) -> RuleEvent:
    return RuleEvent("flood", Reading("gauge-1", "water_level", value, at, "cm"), Transition(kind, at, value))  # type: ignore[arg-type]


def test_start_and_end_share_the_alert_id_even_across_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    start = AlertComposer("estate-1", {RULE.id: RULE.meta()}, box, clock=lambda: 1000.5).handle(event("start", 990, 23))
    assert start is not None
    box.close()

    box = Outbox(tmp_path / "o.sqlite3")
    composer = AlertComposer("estate-1", {RULE.id: RULE.meta()}, box, clock=lambda: 2000.0)
    assert composer.active_keys == [("flood", "gauge-1")]
    end = composer.handle(event("end", 1990, 12))
    assert end is not None
    rows = box.fetch_after(0, 10)
    assert [json.loads(r.payload) for r in rows] == [start, end]
    assert {r.topic for r in rows} == {"wangge/edge/estate-1/alerts"}
    assert end["alert_id"] == start["alert_id"]
    assert (start["event"], start["seq"], end["event"], end["seq"]) == ("start", 0, "end", 1)
    assert start["started_at"] == "1970-01-01T00:16:30.000Z" == end["started_at"]
    assert end["ended_at"] == "1970-01-01T00:33:10.000Z"
    assert start["emitted_at"] == "1970-01-01T00:16:40.500Z"
    assert start["title"] == "Water 23 cm at gauge-1"
    for message in (start, end):
        assert alert_format.schema_errors(message) == []
    assert composer.active_keys == []


def test_an_end_without_a_known_start_writes_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    assert AlertComposer("estate-1", {RULE.id: RULE.meta()}, box).handle(event("end", 5, 1)) is None
    assert box.depth == 0
