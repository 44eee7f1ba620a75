"""Event clips: for every video alert (and every sensor alert of a device linked to cameras — 报警联动), the
footage from `pre_capture_s` before its start to `post_capture_s` after its end, cut from the recorded segments
by ffmpeg without re-encoding, as fragmented MP4 that a browser plays while it loads. A long alert comes in
parts of at most `max_part_s`, each cut as soon as its footage is recorded.

Wanted clips are files (one per alert and camera), so an edge restart between the alert and its cut loses
nothing; cut parts go to the clip spool, which is idempotent at the gateway by (alert, camera, part).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from wangge import alert_format
from wangge.edge import metrics
from wangge.edge.video.recording import Recorder, Segment, ffmpeg_binary, probe_duration
from wangge.edge.video.spool import UploadSpool

log = logging.getLogger(__name__)
GIVE_UP_AFTER_S = 120.0  # footage this late is not coming (recorder down): cut what there is
KEYFRAME_SLACK_S = 2.0  # a stream copy starts at the keyframe before the wanted start


class ClipSpool(UploadSpool):
    kind = "clip"
    suffix = ".mp4"

    def target(self, path: Path, meta: dict[str, Any]) -> tuple[str, str]:
        query = urlencode({"covers_from": meta["covers_from"], "covers_to": meta["covers_to"]})
        where = f"/api/v1/edges/{self._edge_id}/alerts/{meta['alert_id']}/clips/{meta['camera']}/{meta['part']}"
        return f"{where}?{query}", "video/mp4"

    def delivered(self, path: Path) -> None:
        metrics.CLIPS.labels("sent").inc()

    def refused(self, path: Path) -> None:
        metrics.CLIPS.labels("refused").inc()

    def dropped(self, path: Path) -> None:
        metrics.CLIPS.labels("dropped").inc()


def _concat_quoted(path: Path) -> str:
    """A path as ffmpeg's concat list reads it: absolute, since the list lives in the temp directory and a relative
    path would be read from there (a relative data_dir, as the demo's, cut no clip at all), and quoted, a quote
    inside written as '\\''."""
    return "'" + path.resolve().as_posix().replace("'", "'\\''") + "'"


def cut(segments: list[Segment], first: float, last: float, out: Path) -> tuple[float, float] | None:
    """Footage from `first` to `last` (wall clock) into `out`; the span it covers, or None without footage.
    Stream copy cuts at keyframes, so a clip may start up to one keyframe interval early."""
    chosen = [s for s in segments if s.end > first and s.start < last]
    if not chosen:
        return None
    lines = []
    for n, segment in enumerate(chosen):
        lines.append(f"file {_concat_quoted(segment.path)}")
        if n == 0 and first > segment.start:
            lines.append(f"inpoint {first - segment.start:.3f}")
        if n == len(chosen) - 1 and last < segment.end:
            lines.append(f"outpoint {last - segment.start:.3f}")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(lines) + "\n")
    try:
        done = subprocess.run(
            [
                ffmpeg_binary(),
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                listing.name,
                "-c",
                "copy",
                "-movflags",
                "+frag_keyframe+empty_moov+default_base_moof",
                "-f",
                "mp4",
                str(out),
            ],
            capture_output=True,
            timeout=120,
        )
    finally:
        Path(listing.name).unlink(missing_ok=True)
    complaint = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0:
        log.error("clip cut failed: %s", complaint[-300:])
        return None
    end = min(last, chosen[-1].end)
    wanted = end - max(first, chosen[0].start)
    got = probe_duration(out)
    if got is None or got < wanted - KEYFRAME_SLACK_S:
        # A segment that would not open (still being finished, damaged) ends a concat early without an error.
        log.warning("clip cut short (%.1fs of %.1fs; %s); trying again", got or 0, wanted, complaint[-200:] or "-")
        return None
    # The cut ends where asked; a stream copy starts at the keyframe at or before the wanted start.
    return max(chosen[0].start, end - got), end


class ClipJobs:
    """Clips wanted and not yet cut, one JSON file per (alert, camera)."""

    def __init__(
        self,
        directory: Path,
        spool: ClipSpool,
        recorders: Mapping[str, Recorder],
        linked: Mapping[str, list[str]],
        clock: Callable[[], float],
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.spool = spool
        self.recorders = recorders
        self.linked = linked  # sensor device id → cameras whose footage its alerts get
        self.clock = clock
        self._lock = threading.Lock()

    def cameras_for(self, message: Mapping[str, Any]) -> list[str]:
        source = message.get("source") or {}
        device = str(source.get("device_id", ""))
        if source.get("kind") == "camera":
            return [device] if device in self.recorders else []
        return [c for c in self.linked.get(device, []) if c in self.recorders]

    def observe(self, message: Mapping[str, Any]) -> None:
        """Every alert event the composer wrote: a start wants a clip, an end fixes where it stops."""
        if message.get("rule_id") == "camera_offline" or message.get("event") not in ("start", "end"):
            return
        for camera in self.cameras_for(message):
            path = self.directory / f"{message['alert_id']}.{camera}.json"
            with self._lock:
                job = self._read(path)
                if job is None and message["event"] == "end":
                    continue  # its clip is done (a long alert's last part cut) or was never wanted
                job = job or {
                    "alert_id": message["alert_id"],
                    "camera": camera,
                    "started_at": _epoch(message["started_at"]),
                    "ended_at": None,
                    "cut": [],
                }
                if message["event"] == "end":
                    job["ended_at"] = _epoch(message.get("ended_at") or message["at"])
                _write(path, job)

    def pins(self) -> list[tuple[str, float, float]]:
        """(camera, first, last) of footage a wanted clip still needs."""
        spans = []
        for path in self.directory.glob("*.json"):
            job = self._read(path)
            if job is None or job["camera"] not in self.recorders:
                continue
            config = self.recorders[job["camera"]].config
            end = job["ended_at"] if job["ended_at"] is not None else math.inf
            spans.append((job["camera"], job["started_at"] - config.pre_capture_s, end + config.post_capture_s))
        return spans

    def run_once(self) -> int:
        """Cut every part whose footage is recorded; returns the parts cut."""
        done = 0
        now = self.clock()
        for path in sorted(self.directory.glob("*.json")):
            with self._lock:
                job = self._read(path)
            if job is None:
                continue
            recorder = self.recorders.get(job["camera"])
            if recorder is None:
                path.unlink(missing_ok=True)
                continue
            done += self._advance(path, job, recorder, now)
        return done

    def _advance(self, path: Path, job: dict[str, Any], recorder: Recorder, now: float) -> int:
        config = recorder.config
        first = job["started_at"] - config.pre_capture_s
        ended = job["ended_at"]
        last = (ended if ended is not None else now) + config.post_capture_s
        parts = _parts(first, last, config.max_part_s, config.max_parts)
        segments = recorder.segments()
        recorded_to = segments[-1].end if segments else -math.inf
        cut_now = 0
        for part in range(parts):
            if part in job["cut"]:
                continue
            a = first + part * config.max_part_s
            b = min(last, a + config.max_part_s)
            complete = ended is not None or b - a >= config.max_part_s
            if not complete:
                break
            waited_out = now > b + GIVE_UP_AFTER_S
            if recorded_to < b and not waited_out:
                break  # the footage is still being recorded
            if not self._cut_part(job, part, segments, a, b, final=waited_out):
                break
            job["cut"].append(part)
            cut_now += 1
        with self._lock:
            current = self._read(path) or job
            current["cut"] = sorted(set(current["cut"]) | set(job["cut"]))
            ended = current["ended_at"]
            wanted = _parts(first, (ended or now) + config.post_capture_s, config.max_part_s, config.max_parts)
            finished = (ended is not None or wanted == config.max_parts) and all(
                p in current["cut"] for p in range(wanted)
            )
            if finished:
                path.unlink(missing_ok=True)
            else:
                _write(path, current)
        return cut_now

    def _cut_part(
        self, job: dict[str, Any], part: int, segments: list[Segment], a: float, b: float, final: bool
    ) -> bool:
        """True when the part is settled: cut into the spool, or (`final`) given up without footage."""
        name = f"{job['alert_id']}.{job['camera']}.{part}"
        with tempfile.TemporaryDirectory(prefix="wangge-cut-") as folder:
            out = Path(folder) / "clip.mp4"
            span = cut(segments, a, b, out)
            if span is None:
                if not final:
                    return False
                metrics.CLIPS.labels("missing").inc()
                log.warning("camera %s: no footage for alert %s part %d", job["camera"], job["alert_id"], part)
                return True
            meta = {
                "alert_id": job["alert_id"],
                "camera": job["camera"],
                "part": part,
                "covers_from": alert_format.iso(span[0]),
                "covers_to": alert_format.iso(span[1]),
            }
            self.spool.put(name, out.read_bytes(), meta)
        metrics.CLIPS.labels("cut").inc()
        return True

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            job: dict[str, Any] = json.loads(path.read_text())
            return job
        return None


def _parts(first: float, last: float, max_part_s: float, max_parts: int) -> int:
    """How many parts footage from `first` to `last` is cut into (a very long alert keeps its first ones)."""
    return min(max_parts, max(1, math.ceil((last - first) / max_part_s - 1e-9)))


def _write(path: Path, job: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(job))
    tmp.replace(path)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()
