"""Recording at the edge: per camera, ffmpeg copies the stream (`-c copy`: no decode, no encode) into short MP4
segments, restarted with backoff when it dies, in a rolling buffer bounded by time, bytes and a free-disk floor.

A segment's wall-clock span is its file's last write (the muxer finishes it when the next one starts) less its
duration as ffprobe reads it, so clips line up with alert times even after ffmpeg buffered a burst at connect.
The recorder is a process of its own: a stream it cannot copy stops the recording, never the analysis.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wangge.edge import metrics
from wangge.edge.video.config import RecordConfig

log = logging.getLogger(__name__)
BACKOFF_MAX_S = 60.0
STEADY_S = 60.0  # a recorder that ran this long starts its backoff afresh when it next dies


def ffmpeg_binary(name: str = "ffmpeg") -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (apt-get install ffmpeg)")
    return found


def input_args(url: str) -> list[str]:
    """How ffmpeg reads a camera: RTSP over TCP with a socket timeout, a file replayed in real time and looped."""
    if url.startswith("rtsp://") or url.startswith("rtsps://"):
        return ["-rtsp_transport", "tcp", "-timeout", "10000000", "-i", url]
    if "://" in url:
        return ["-rw_timeout", "10000000", "-i", url]
    return ["-re", "-stream_loop", "-1", "-i", url]


@dataclass(frozen=True)
class Segment:
    path: Path
    start: float
    end: float
    size: int


def probe_duration(path: Path) -> float | None:
    try:
        out = subprocess.run(
            [ffmpeg_binary("ffprobe"), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return float(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


class Recorder:
    """One camera's ffmpeg segmenter, supervised on a thread of its own."""

    def __init__(self, camera_id: str, url: str, directory: Path, config: RecordConfig) -> None:
        self.camera_id = camera_id
        self.url = url
        self.directory = directory
        self.config = config
        self.directory.mkdir(parents=True, exist_ok=True)
        self.restarts = 0
        self.error: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{camera_id}", daemon=True)
        self._durations: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        return [
            ffmpeg_binary(),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            *input_args(self.url),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "segment",
            "-segment_time",
            f"{self.config.segment_s:g}",
            "-segment_format",
            "mp4",
            "-reset_timestamps",
            "1",
            # Named by the run's start (ms) and a sequence: a strftime name has one-second resolution, so two
            # segments begun in the same second would overwrite each other. Names sort in recording order.
            str(self.directory / f"{round(time.time() * 1000):013d}-%06d.mp4"),
        ]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # ffmpeg finishes the segment it writes (its moov box) on SIGTERM
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._thread.join(15)
        metrics.RECORDER_UP.labels(self.camera_id).set(0)

    def _run(self) -> None:
        backoff = 1.0
        log_path = self.directory / "recorder.log"
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with log_path.open("ab") as out:
                    self._proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=out)
                metrics.RECORDER_UP.labels(self.camera_id).set(1)
                self.error = None
                code = self._proc.wait()
            except OSError as exc:
                code, self.error = -1, str(exc)
            metrics.RECORDER_UP.labels(self.camera_id).set(0)
            if self._stop.is_set():
                return
            if time.monotonic() - started > STEADY_S:
                backoff = 1.0
            self.restarts += 1
            metrics.RECORDER_RESTARTS.labels(self.camera_id).inc()
            self.error = self.error or f"ffmpeg exited ({code}): {self._last_error(log_path)}"
            log.warning("camera %s: recorder stopped (%s); again in %.0fs", self.camera_id, self.error, backoff)
            self._stop.wait(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    @staticmethod
    def _last_error(log_path: Path) -> str:
        try:
            with log_path.open("rb") as f:
                f.seek(max(0, log_path.stat().st_size - 400))
                lines = f.read().decode(errors="replace").strip().splitlines()
            return lines[-1][:200] if lines else "no message"
        except OSError:
            return "no message"

    def segments(self) -> list[Segment]:
        """Finished segments, oldest first (the one ffmpeg writes now is left out)."""
        files = sorted(self.directory.glob("*.mp4"))
        if self.running and files:
            files = files[:-1]
        found = []
        with self._lock:
            for path in files:
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                key = (path.name, stat.st_size)
                duration = self._durations.get(key)
                if duration is None:
                    duration = probe_duration(path)
                    if duration is None:
                        continue  # unreadable (a recorder killed mid-write): left to the age limit
                    self._durations[key] = duration
                found.append(Segment(path, stat.st_mtime - duration, stat.st_mtime, stat.st_size))
        return found

    def prune(self, now: float, pinned: Callable[[float, float], bool], disk_floor: int) -> None:
        """Delete oldest-first: past the retention (unless a pending clip needs it), over the byte budget, or
        while the disk is below its floor (hard limits: a clip loses its footage before the edge its disk)."""
        segments = self.segments()
        total = sum(_size(p) for p in self.directory.glob("*.mp4"))  # the segment being written counts too
        headroom = segments[-1].size if segments else 0  # what the next segment will about add
        kept = []
        for segment in segments:
            reason = None
            if total + headroom > self.config.max_bytes:
                reason = "bytes"
            elif _free_bytes(self.directory) < disk_floor:
                reason = "disk_floor"
            elif segment.end < now - self.config.retain_s and not pinned(segment.start, segment.end):
                reason = "age"
            if reason is None:
                kept.append(segment)
                continue
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            total -= segment.size
            metrics.RECORDING_DELETED.labels(self.camera_id, reason).inc()
        with self._lock:  # durations of deleted segments are not needed again
            gone = {s.path.name for s in segments} - {s.path.name for s in kept}
            self._durations = {k: v for k, v in self._durations.items() if k[0] not in gone}
        metrics.RECORDING_BYTES.labels(self.camera_id).set(sum(s.size for s in kept))
        metrics.RECORDING_SECONDS.labels(self.camera_id).set(sum(s.end - s.start for s in kept))

    def health(self) -> dict[str, object]:
        return {"recording": "on" if self.running else "restarting", "recorder_restarts": self.restarts}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0
