"""Camera tamper on real frames of the PETS clip: covered, defocused and moved views raise an alert after the
minimum duration and end when the view returns; the clip itself (people walking, light changing) raises none."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.support import asset
from wangge.detectors.video.tamper import TamperDetector, TamperSettings


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(asset("video/vtest.avi")))
    out = []
    for i in range(795):
        ok, frame = capture.read()
        assert ok
        if i % 5 == 0:
            out.append(frame)
    return out


def run(detector: TamperDetector, views: list[np.ndarray], fps: float = 2.0) -> list[tuple[str, float, str]]:
    events = []
    for i, view in enumerate(views):
        events += [(e.kind, e.at, str(e.detail["reason"])) for e in detector.observe(i / fps, view)]
    return events


def test_the_whole_clip_is_not_tampering(frames: list[np.ndarray]) -> None:
    detector = TamperDetector(TamperSettings(min_duration_s=0))
    assert run(detector, frames) == []


@pytest.mark.parametrize(
    ("reason", "spoil"),
    [
        ("covered", lambda f: cv2.GaussianBlur((f * 0.15).astype(np.uint8), (51, 51), 0)),  # a hand over the lens
        ("defocused", lambda f: cv2.GaussianBlur(f, (21, 21), 0)),
        (
            "moved",
            lambda f: cv2.warpAffine(
                f, np.float32([[1, 0, 120], [0, 1, 60]]), (768, 576), borderMode=cv2.BORDER_REFLECT
            ),
        ),
    ],
)
def test_a_tampered_view_is_one_alert_after_the_minimum_duration(
    frames: list[np.ndarray], reason: str, spoil: object
) -> None:
    detector = TamperDetector(TamperSettings(min_duration_s=10, clear_after_s=5))
    normal, tampered = frames[:20], [spoil(f) for f in frames[20:60]]  # type: ignore[operator]
    events = run(detector, normal + tampered + frames[60:90])
    assert [(kind, reason_) for kind, _, reason_ in events] == [("start", reason), ("end", reason)]
    (_, start, _), (_, end, _) = events
    assert start == 10.0 + 10.0  # tampering began at 10 s (frame 20 at 2 fps); 10 s minimum
    assert end == 30.0 + 5.0  # the view came back at 30 s; 5 s to be sure


def test_a_short_obstruction_is_not_an_alert(frames: list[np.ndarray]) -> None:
    detector = TamperDetector(TamperSettings(min_duration_s=10))
    brief = [np.zeros_like(f) for f in frames[20:30]]  # 5 s: someone walks right past the lens
    assert run(detector, frames[:20] + brief + frames[30:60]) == []
