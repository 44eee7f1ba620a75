"""What the anomaly detectors learnt survives an edge restart: saved in the outbox's SQLite periodically and
at stop, taken up at start, dropped cleanly (and counted) when it was saved by another version."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from tests.edge.harness import Harness, edge_config
from wangge.detectors.anomaly import STATE_VERSION, AnomalyDetector

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
RULE = "temperature_humidity.unusual_temperature"
TOPIC = "estate/temperature_humidity/th-1"
STEP = 300.0  # a reading every five minutes


def estate(tmp: Path, **extra: Any) -> Harness:
    config = edge_config(
        sensors=[
            {
                "topic": "estate/temperature_humidity/+device",
                "device": "{device}",
                "format": "auto",
                "profile": "temperature_humidity",
            }
        ],
        **extra,
    )
    return Harness(config, tmp, T0)


def usual(at: float, rng: random.Random) -> float:
    """A plant room: 22 °C ± 3 over the day, a little noise."""
    return 22 + 3 * math.sin(2 * math.pi * (at % 86400) / 86400) + rng.gauss(0, 0.15)


def readings(first: int, count: int, seed: int, spike_at: int | None = None) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(first, first + count):
        at = T0 + STEP * i
        out.append((at, 45.0 if i == spike_at else usual(at, rng)))
    return out


def feed(edge: Harness, series: list[tuple[float, float]]) -> None:
    for at, value in series:
        edge.send(at, TOPIC, {"temperature": value, "humidity": 50})


def detector(edge: Harness) -> AnomalyDetector:
    state = edge.ingest.engine.state_of(RULE, "th-1")
    assert state is not None
    return state.detector  # type: ignore[no-any-return]


def anomaly_story(edge: Harness) -> list[tuple[str, str]]:
    return [(a["event"], a["started_at"]) for a in edge.alerts() if a["rule_id"] == RULE]


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("wangge_edge_learnt_states_dropped_total", {"reason": reason}) or 0.0


DAY = readings(0, 288, seed=1)
NEXT = readings(288, 72, seed=2, spike_at=288 + 12)  # six hours more; 45 °C an hour in


def test_a_killed_edge_resumes_what_it_learnt_and_scores_as_if_never_stopped(tmp_path: Path) -> None:
    steady = estate(tmp_path / "steady")
    feed(steady, DAY + NEXT)

    restarted = estate(tmp_path / "restarted")
    feed(restarted, DAY)
    restarted.reboot()  # killed: no stop, only the periodic save (every 300 s, so after the last reading)
    feed(restarted, NEXT)

    assert detector(restarted).to_state() == detector(steady).to_state()
    caught = [("start", "2027-01-16T09:00:00.000Z")]  # the spike: one alert, at once
    assert [e for e in anomaly_story(steady) if e[0] == "start"] == caught
    assert anomaly_story(restarted) == anomaly_story(steady)  # and nothing raised by a warm-up

    blind = estate(tmp_path / "blind")  # the same restart with what was learnt gone
    feed(blind, DAY)
    blind.reboot()
    blind.outbox.save_learnt({}, T0)
    blind.reboot()
    feed(blind, NEXT)
    assert detector(blind).n == len(NEXT) < detector(blind).warmup  # warming up again: the spike is missed
    assert anomaly_story(blind) == []


def test_stop_saves_and_the_saved_state_is_a_few_kilobytes(tmp_path: Path) -> None:
    edge = estate(tmp_path, learnt_state_save_s=86400)  # no periodic save: only the one at stop
    feed(edge, DAY)
    edge.ingest.stop()
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        [(rule, device, text)] = db.execute("SELECT rule_id, device_id, state FROM learnt_states").fetchall()
    assert (rule, device) == (RULE, "th-1")
    assert json.loads(text)["detector"]["n"] == len(DAY)
    assert len(text) < 64 * 1024
    assert REGISTRY.get_sample_value("wangge_edge_learnt_states") == 1.0


def test_a_state_from_another_version_or_damaged_is_dropped_and_counted(tmp_path: Path) -> None:
    edge = estate(tmp_path)
    feed(edge, DAY)
    edge.ingest.save_learnt()
    edge.outbox.close()
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        [(text,)] = db.execute("SELECT state FROM learnt_states").fetchall()
        old = json.loads(text)
        old["detector"]["version"] = STATE_VERSION - 1
        db.execute("UPDATE learnt_states SET state = ?", (json.dumps(old),))
        db.execute("INSERT INTO learnt_states VALUES (?, 'th-2', '{\"detector\": 7}', 0)", (RULE,))
        db.execute("INSERT INTO learnt_states VALUES (?, 'th-3', 'not json', 0)", (RULE,))
        db.execute("INSERT INTO learnt_states VALUES ('gone.rule', 'th-1', '{}', 0)")
    before = {r: dropped(r) for r in ("version", "damaged", "unreadable", "unknown_rule")}
    edge.boot()
    assert {r: dropped(r) - before[r] for r in before} == {r: 1.0 for r in before}
    feed(edge, NEXT[:1])
    assert detector(edge).n == 1  # starts afresh rather than misreading the old state
