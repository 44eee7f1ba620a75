"""Video events become alert events on the wire (checked against the published JSON Schema by the composer)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from wangge.detectors.video.rules import LoiterRule, TrackedObject, VideoEvent
from wangge.edge.alerts import AlertComposer
from wangge.edge.outbox import Outbox
from wangge.edge.video.config import CameraConfig, VideoConfig
from wangge.edge.video.evidence import SnapshotSpool
from wangge.edge.video.pipeline import VideoAlerts, VideoService

CAMERA = CameraConfig.model_validate(
    {
        "id": "gate-cam",
        "url": "rtsp://127.0.0.1:1/x",
        "rules": [
            {"kind": "line", "id": "gate", "category": "security.line_crossing", "a": [0.5, 0.1], "b": [0.5, 0.9]},
            {"kind": "zone", "id": "yard", "category": "security.intrusion", "polygon": [[0, 0], [1, 0], [1, 1]]},
        ],
    }
)

STAIRS = [[0.3, 0.3], [0.8, 0.3], [0.8, 0.8], [0.3, 0.8]]


def rows(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as db:
        return [json.loads(r[0]) for r in db.execute("SELECT payload FROM outbox ORDER BY id")]


def test_a_crossing_is_a_start_and_an_end_with_its_geometry_and_snapshot(tmp_path: Path) -> None:
    composer = AlertComposer("estate-1", {}, Outbox(tmp_path / "outbox.sqlite3"))
    spool = SnapshotSpool(tmp_path / "snaps", "estate-1", None, None)
    alerts = VideoAlerts("estate-1", composer, spool)
    box = (0.45, 0.3, 0.55, 0.7)
    event = VideoEvent("gate", "instant", 1_790_000_000.0, (7,), ("person",), 0.81, (box,), {"direction": "a_to_b"})
    alerts.event(CAMERA, CAMERA.rules[0], event, np.zeros((360, 640, 3), dtype=np.uint8))
    start, end = rows(tmp_path / "outbox.sqlite3")
    assert (start["event"], end["event"]) == ("start", "end") and start["alert_id"] == end["alert_id"]
    assert start["source"] == {"kind": "camera", "device_id": "gate-cam"} and end["ended_at"] == start["started_at"]
    assert start["attributes"]["geometry"] == {"lines": [[[0.5, 0.1], [0.5, 0.9]]], "boxes": [list(box)]}
    assert start["attributes"]["direction"] == "a_to_b" and start["attributes"]["track_ids"] == [7]
    assert (tmp_path / "snaps" / f"{start['alert_id']}.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert composer.active_keys == []


def test_alerts_left_open_by_a_previous_run_are_ended_at_start(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    composer = AlertComposer("estate-1", {}, Outbox(path))
    alerts = VideoAlerts("estate-1", composer, SnapshotSpool(tmp_path / "snaps", "estate-1", None, None))
    event = VideoEvent("yard", "start", 1_790_000_000.0, (3,), ("person",), 0.7, ((0.1, 0.1, 0.2, 0.4),))
    alerts.event(CAMERA, CAMERA.rules[1], event, np.zeros((360, 640, 3), dtype=np.uint8))
    assert composer.active_keys == [("yard", "gate-cam")]
    # The edge restarts: a new composer restores the open alert from the outbox; the video service ends it.
    restarted = AlertComposer("estate-1", {}, Outbox(path))
    VideoService("estate-1", VideoConfig(model=None), [CAMERA], restarted, tmp_path)
    *_, end = rows(path)
    assert (end["event"], end["seq"], end["attributes"]) == ("end", 1, {"reason": "edge restarted"})
    assert restarted.active_keys == []


def test_two_loiterers_at_once_are_two_alerts_each_with_its_own_end(tmp_path: Path) -> None:
    """The loiter rule holds one condition per person: A alerts at 10 s, B at 12 s, A leaves first. Each start
    opens an alert of its own and each end closes that one; under one key per rule, B's start took A's place and
    A's end closed B's alert, leaving A's open for good."""
    camera = CameraConfig.model_validate(
        {
            "id": "stair-cam",
            "url": "rtsp://127.0.0.1:1/x",
            "rules": [
                {"kind": "loiter", "id": "stairs", "category": "security.loitering", "polygon": STAIRS, "seconds": 10}
            ],
        }
    )
    [built] = camera.build_rules()
    assert isinstance(built, LoiterRule)
    composer = AlertComposer("estate-1", {}, Outbox(tmp_path / "outbox.sqlite3"))
    alerts = VideoAlerts("estate-1", composer, SnapshotSpool(tmp_path / "snaps", "estate-1", None, None))
    frame = np.zeros((360, 640, 3), dtype=np.uint8)
    a = TrackedObject(1, "person", (0.40, 0.40, 0.44, 0.52), 0.9)
    b = TrackedObject(2, "person", (0.60, 0.40, 0.64, 0.52), 0.9)
    t0 = 1_790_000_000.0
    for i in range(100):  # 20 s at 5 fps: A there 0-14 s, B from 2 s to the end
        at = t0 + i / 5
        people = ([a] if i < 70 else []) + ([b] if i >= 10 else [])
        for event in built.observe(at, people):
            alerts.event(camera, camera.rules[0], event, frame)
    events = rows(tmp_path / "outbox.sqlite3")
    by_alert: dict[str, list[tuple[str, list[int]]]] = {}
    for e in events:
        by_alert.setdefault(e["alert_id"], []).append((e["event"], e["attributes"]["track_ids"]))
    assert sorted(by_alert.values()) == [[("start", [1]), ("end", [1])], [("start", [2])]]
    assert composer.active_keys == [("stairs#track 2", "stair-cam")]  # B is still there
