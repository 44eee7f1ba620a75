"""The edge's recorders, the clips wanted from them and the clip spool, kept by one janitor thread: every second
it cuts the parts whose footage is in, and prunes each camera's buffer around what pending clips still need."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from wangge.edge.credentials import EdgeToken
from wangge.edge.video.clips import ClipJobs, ClipSpool
from wangge.edge.video.config import CameraConfig, VideoConfig
from wangge.edge.video.recording import Recorder, ffmpeg_binary

log = logging.getLogger(__name__)
JANITOR_S = 1.0


class RecordingService:
    def __init__(
        self,
        edge_id: str,
        video: VideoConfig,
        cameras: list[CameraConfig],
        data_dir: Path,
        token: EdgeToken | None,
        linked: dict[str, list[str]],
    ) -> None:
        self.video = video
        self.error: str | None = None
        wanted = [c for c in cameras if c.record.enabled]
        if wanted:
            try:
                ffmpeg_binary()
            except FileNotFoundError as exc:
                self.error = f"{exc}: cameras are not recorded and alerts get no clips"
                log.error("%s", self.error)
                wanted = []
        root = video.recordings_dir or data_dir / "recordings"
        self.recorders = {c.id: Recorder(c.id, c.url, root / c.id, c.record) for c in wanted}
        upload = video.snapshot_upload
        self.spool = ClipSpool(
            video.clip_dir or data_dir / "clips",
            edge_id,
            upload.gateway_url if upload else None,
            token,
            video.clip_spool_max_bytes,
        )
        self.jobs = ClipJobs(data_dir / "clip-jobs", self.spool, self.recorders, linked, time.time)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recording-janitor", daemon=True)

    def start(self) -> None:
        for recorder in self.recorders.values():
            recorder.start()
        self.spool.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        for recorder in self.recorders.values():
            recorder.stop()
        self.run_once()  # the segments the recorders just finished may complete a clip
        self.spool.stop()

    def run_once(self) -> None:
        self.jobs.run_once()
        pins = self.jobs.pins()
        now = time.time()
        for camera, recorder in self.recorders.items():
            recorder.prune(now, _Pins([(a, b) for c, a, b in pins if c == camera]), self.video.min_free_bytes)

    def _run(self) -> None:
        while not self._stop.wait(JANITOR_S):
            try:
                self.run_once()
            except Exception:
                log.exception("recording janitor pass failed")

    def health(self, camera: str) -> dict[str, Any]:
        recorder = self.recorders.get(camera)
        if recorder is None:
            return {"recording": "off", "recording_error": self.error}
        return {**recorder.health(), "recording_error": recorder.error}


class _Pins:
    """Whether footage from `start` to `end` overlaps a span a pending clip needs."""

    def __init__(self, spans: list[tuple[float, float]]) -> None:
        self.spans = spans

    def __call__(self, start: float, end: float) -> bool:
        return any(start < b and end > a for a, b in self.spans)
