"""Cameras in the edge config: a good one passes `wangge check-config`, each mistake is named by its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.edge.test_config import GOOD, check
from wangge.detectors.video.rules import CrowdRule
from wangge.edge.video.config import CameraConfig, VideoConfig

CAMERAS = """
video: {model: yolox_nano, model_dir: /var/lib/wangge/models, threads: 2}
cameras:
  - id: east-gate
    url: rtsp://viewer:secret@10.0.0.21:554/stream1
    detect: {width: 1280, height: 720, fps: 5}
    motion: {masks: [[[0, 0], [0.3, 0], [0.3, 0.08], [0, 0.08]]]}
    blur_faces: true
    rules:
      - {kind: zone, id: night-fence, category: security.intrusion, polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, 0.9]],
         schedule: {start: "22:00", end: "06:00"}}
      - {kind: line, id: gate-in, category: security.line_crossing, a: [0.5, 0.1], b: [0.5, 0.9], direction: a_to_b}
      - {kind: loiter, id: loiter, category: security.loitering, polygon: [[0, 0], [1, 0], [1, 1]], seconds: 60}
      - {kind: crowd, id: crowd, category: public_order.gathering, polygon: [[0, 0], [1, 0], [1, 1]], min_count: 8}
      - {kind: confirmed, id: fire, category: fire_safety.fire, severity: critical, hits: 3, window: 5}
      - {kind: stationary, id: fire-lane, category: fire_safety.fire_lane_blocked, severity: critical,
         polygon: [[0.2, 0.6], [0.8, 0.6], [0.8, 1.0], [0.2, 1.0]], seconds: 300}
"""


def test_a_camera_with_every_rule_kind_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(tmp_path, GOOD + CAMERAS, capsys) == (0, [])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("fps: 5}", "fps: 0}"), "cameras[0].detect.fps: Input should be greater than 0"),
        (
            ("[0.6, 0.9]],", "[1.6, 0.9]],"),
            "cameras[0].rules[0].polygon[2][0]: Input should be less than or equal",
        ),
        (('start: "22:00"', 'start: "25:00"'), "cameras[0].rules[0].schedule.start: String should match pattern"),
        (("direction: a_to_b", "direction: north"), "cameras[0].rules[1].direction: Input should be 'a_to_b'"),
        (
            ("kind: crowd", "kind: riot"),
            "cameras[0].rules[3]: kind must be one of zone, line",
        ),
        (("min_count: 8}", "min_count: 8, grace_s: -1}"), "cameras[0].rules[3].grace_s: Input should be greater"),
        (("id: loiter,", "id: gate-in,"), "cameras[0].rules: rule id 'gate-in' is used twice"),
        (
            ("a: [0.5, 0.1], b: [0.5, 0.9]", "a: [0.5, 0.1], b: [0.5, 0.1]"),
            "cameras[0].rules[1]: a and b must",
        ),
    ],
)
def test_each_camera_mistake_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], expected: str
) -> None:
    code, lines = check(tmp_path, GOOD + CAMERAS.replace(*change), capsys)
    assert code == 2
    assert any(line.startswith(expected) for line in lines), lines


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6), st.text(max_size=6)))
@settings(max_examples=200, deadline=None)
def test_any_crowd_grace_is_taken_within_its_bounds_or_refused_naming_it(grace: Any) -> None:
    crowd = {"kind": "crowd", "id": "crowd", "category": "public_order.gathering", "min_count": 4, "grace_s": grace}
    camera = {"id": "gate", "url": "rtsp://10.0.0.21/1", "rules": [crowd | {"polygon": [[0, 0], [1, 0], [1, 1]]}]}
    try:
        config = CameraConfig.model_validate(camera)
    except ValidationError as exc:
        assert [".".join(map(str, e["loc"])) for e in exc.errors()] == ["rules.0.kind=crowd.grace_s"]
        return
    [rule] = config.build_rules()
    assert isinstance(rule, CrowdRule) and 0 <= rule.grace_s <= 60 and rule.grace_s == float(grace)


@given(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6), st.text(max_size=6))
)
@settings(max_examples=200, deadline=None)
def test_any_detector_input_size_is_taken_within_its_bounds_or_refused_naming_it(long_side: Any) -> None:
    try:
        config = VideoConfig.model_validate({"model": "yolox_nano", "input_long_side": long_side})
    except ValidationError as exc:
        assert [".".join(map(str, e["loc"])) for e in exc.errors()] == ["input_long_side"]
        return
    got = config.input_long_side
    assert got is None if long_side is None else (isinstance(got, int) and 32 <= got <= 4096 and got == long_side)
