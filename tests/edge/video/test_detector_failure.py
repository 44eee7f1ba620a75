"""A detector that starts failing at run time: the camera goes on with motion-only zone alerts, marked degraded,
and comes back when the detector works again (Frigate stops)."""

from __future__ import annotations

import numpy as np
import supervision as sv

from wangge.edge.video.config import CameraConfig
from wangge.edge.video.pipeline import CameraWorker


class FlakyDetector:
    def __init__(self) -> None:
        self.name, self.labels = "flaky", ["person"]
        self.broken = False
        self.calls = 0

    def detect(self, frames: list[np.ndarray]) -> list[sv.Detections]:
        self.calls += 1
        if self.broken:
            raise RuntimeError("CUDA error: device lost")
        return [sv.Detections.empty() for _ in frames]


class NoAlerts:
    def event(self, *_: object) -> None: ...

    def offline(self, *_: object) -> None: ...


def frame(x: int | None) -> np.ndarray:
    image = np.full((360, 640, 3), 80, dtype=np.uint8)
    if x is not None:
        image[150:300, x : x + 50] = 230
    return image


def test_motion_only_while_the_detector_fails_then_back() -> None:
    camera = CameraConfig.model_validate(
        {
            "id": "yard",
            "url": "rtsp://127.0.0.1:1/none",
            "rules": [
                {
                    "kind": "zone",
                    "id": "yard",
                    "category": "security.intrusion",
                    "inertia": 1,
                    "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                }
            ],
        }
    )
    detector = FlakyDetector()
    worker = CameraWorker(camera, detector, NoAlerts(), retry_s=0.2)  # type: ignore[arg-type]
    worker._analyse(frame(None), 0.0)
    assert worker._analyse(frame(100), 0.2).inferred and not worker.capture.degraded
    detector.broken = True
    first = worker._analyse(frame(140), 0.4)
    assert worker.capture.degraded and not first.inferred
    second = worker._analyse(frame(180), 0.6)  # within retry_s: motion only, the detector is left alone
    calls = detector.calls
    assert [o.label for o in second.objects] == ["motion"]
    assert [e.kind for e in first.events + second.events] == ["start"]  # the zone alert still comes
    import time

    time.sleep(0.25)
    detector.broken = False
    assert worker._analyse(frame(220), 0.8).inferred and detector.calls == calls + 1
    assert not worker.capture.degraded
