"""Recording at the edge and event clips, through the real parts: a GStreamer RTSP camera, ffmpeg copying it into
segments, ffmpeg cutting clips, ffprobe reading them back."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import need_binary
from tests.edge.video.rtsp import RtspServer
from tests.support import asset, wait_until
from wangge import alert_format
from wangge.edge import metrics
from wangge.edge.video.clips import ClipJobs, ClipSpool, cut
from wangge.edge.video.config import RecordConfig
from wangge.edge.video.recording import Recorder, Segment


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    facts: dict[str, Any] = json.loads(out.stdout)
    return facts


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def dir_bytes(directory: Path) -> int:
    total = 0
    for p in directory.glob("*.mp4"):
        with contextlib.suppress(FileNotFoundError):
            total += p.stat().st_size
    return total


def alert_event(alert_id: str, event: str, started: float, at: float, device: str = "cam") -> dict[str, Any]:
    message = {
        "alert_id": alert_id,
        "event": event,
        "rule_id": "lawn",
        "source": {"kind": "camera", "device_id": device},
        "started_at": alert_format.iso(started),
        "at": alert_format.iso(at),
    }
    if event == "end":
        message["ended_at"] = message["at"]
    return message


def test_the_recorder_stays_within_its_budget_and_comes_back_after_the_camera_dies(tmp_path: Path) -> None:
    need_binary("ffmpeg", "ffmpeg")
    # 2 Mbit/s H.264 with a keyframe a second: about 250 KB a one-second segment; the budget holds ~5 of them.
    budget = 1_200_000
    config = RecordConfig(segment_s=1, keep_s=3600, max_bytes=budget)
    clip = asset("video/vtest.avi")  # a real scene: about 250 KB a second at the server's 2 Mbit/s
    server = RtspServer({"cam": f"file:{clip}"}, tmp_path / "rtsp.log")
    with server:
        recorder = Recorder("cam", server.url("cam"), tmp_path / "rec", config)
        recorder.start()
        try:
            peak = 0
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                peak = max(peak, dir_bytes(recorder.directory))
                recorder.prune(time.time(), lambda a, b: False, 0)
                peak = max(peak, dir_bytes(recorder.directory))
                time.sleep(0.25)
            segments = recorder.segments()
            assert peak <= budget, f"{peak} bytes on disk with a budget of {budget}"
            assert 2 <= len(segments) <= 6
            deleted = metrics.RECORDING_DELETED.labels("cam", "bytes")._value.get()
            assert deleted >= 5  # 15 s of one-second segments went through a buffer of about four
            # Segments follow each other in wall-clock time and the newest ends about now.
            for before, after in itertools.pairwise(segments):
                assert abs(after.start - before.end) < 0.6, (before, after)
                assert 0.5 < after.end - after.start < 2.5
            assert time.time() - segments[-1].end < 3.0
            for segment in segments:
                [stream] = probe(segment.path)["streams"]
                assert stream["codec_name"] == "h264"  # copied, not re-encoded to something else
        finally:
            server.kill()
            wait_until(lambda: recorder.restarts >= 1, 30, "the recorder to notice the camera is gone")
            assert metrics.RECORDER_UP.labels("cam")._value.get() == 0 or not recorder.running
            restarts = recorder.restarts
            with RtspServer({"cam": f"file:{clip}"}, tmp_path / "rtsp2.log", port=server.port):
                before = {p.name for p in recorder.directory.glob("*.mp4")}
                wait_until(
                    lambda: len({p.name for p in recorder.directory.glob("*.mp4")} - before) >= 2,
                    60,
                    "recording again after the camera came back",
                    interval=0.5,
                )
                assert recorder.running and recorder.restarts >= restarts
                recorder.stop()


def test_an_alert_gets_a_clip_from_pre_capture_to_post_capture_and_a_long_one_comes_in_parts(tmp_path: Path) -> None:
    need_binary("ffmpeg", "ffmpeg")
    segment = 2.0  # the tolerance the issue sets for a clip: one segment
    config = RecordConfig(segment_s=segment, keep_s=60, pre_capture_s=3, post_capture_s=2, max_part_s=8)
    with RtspServer({"cam": "pattern:ball"}, tmp_path / "rtsp.log") as server:
        recorder = Recorder("cam", server.url("cam"), tmp_path / "rec", config)
        spool = ClipSpool(tmp_path / "clips", "e1", None, None)
        jobs = ClipJobs(tmp_path / "jobs", spool, {"cam": recorder}, {"gauge-1": ["cam"]}, time.time)
        recorder.start()
        try:
            wait_until(lambda: len(recorder.segments()) >= 3, 40, "six seconds recorded", interval=0.5)
            t0 = time.time()
            jobs.observe(alert_event("a-short", "start", t0, t0))
            time.sleep(2.0)
            t1 = time.time()
            jobs.observe(alert_event("a-short", "end", t0, t1))
            # A sensor alert of a device linked to the camera gets the camera's footage too (报警联动).
            sensor = {**alert_event("a-sensor", "start", t0, t0), "source": {"kind": "sensor", "device_id": "gauge-1"}}
            jobs.observe(sensor)
            jobs.observe({**sensor, "event": "end", "at": alert_format.iso(t1), "ended_at": alert_format.iso(t1)})
            jobs.observe(alert_event("a-long", "start", t0, t0))  # 3 + ~11 + 2 s of footage: parts of 8 s
            assert {c for c, _, _ in jobs.pins()} == {"cam"}

            def short_clip() -> list[Path]:
                jobs.run_once()
                return sorted(spool.directory.glob("a-short.*.mp4"))

            [clip] = wait_until(short_clip, 30, "the short alert's clip", interval=0.5)
            meta = json.loads(clip.with_suffix(".json").read_text())
            facts = probe(clip)
            duration = float(facts["format"]["duration"])
            wanted = (t1 + 2) - (t0 - 3)
            # Never less than asked; at most one segment more (the stream copy starts at the keyframe at or before
            # the wanted start, and a segment's wall-clock span is known to a fraction of a second).
            assert -0.5 <= duration - wanted <= segment, (duration, wanted)
            assert "mp4" in facts["format"]["format_name"] and facts["streams"][0]["codec_name"] == "h264"
            covers_from = epoch(meta["covers_from"])
            covers_to = epoch(meta["covers_to"])
            # The cut ends where asked and may start up to one segment early (see above); the metadata says so.
            assert -segment <= covers_from - (t0 - 3) <= 0.5, covers_from - (t0 - 3)
            assert abs((covers_to - covers_from) - duration) < 0.2
            assert abs(covers_to - (t1 + 2)) < 1.0
            assert (meta["alert_id"], meta["camera"], meta["part"]) == ("a-short", "cam", 0)
            assert not (tmp_path / "jobs" / "a-short.cam.json").exists()  # nothing more wanted for it
            wait_until(lambda: jobs.run_once() >= 0 and list(spool.directory.glob("a-sensor.cam.0.mp4")), 30, "linked")

            time.sleep(9)
            t2 = time.time()
            jobs.observe(alert_event("a-long", "end", t0, t2))

            def long_parts() -> list[Path] | None:
                jobs.run_once()
                found = sorted(spool.directory.glob("a-long.*.mp4"))
                return found if not (tmp_path / "jobs" / "a-long.cam.json").exists() else None

            parts = wait_until(long_parts, 40, "every part of the long alert", interval=0.5)
            total = (t2 + 2) - (t0 - 3)
            assert [p.name for p in parts] == [f"a-long.cam.{n}.mp4" for n in range(int(-(-total // 8)))]
            durations = [float(probe(p)["format"]["duration"]) for p in parts]
            assert all(d <= 8 + segment for d in durations)
            assert -0.5 <= sum(durations) - total <= segment * len(parts)
        finally:
            recorder.stop()


def test_a_clip_is_cut_from_segments_named_relative_to_the_working_directory(tmp_path: Path, monkeypatch: Any) -> None:
    """The demo's data_dir is relative (var/demo): ffmpeg reads a concat list's paths relative to the list's own
    directory (the temp directory), so relative segment paths cut nothing. A quote in a name must survive too."""
    need_binary("ffmpeg", "ffmpeg")
    folder = tmp_path / "rec of 6 o'clock"
    folder.mkdir()
    for n in range(2):  # two real 1 s H.264 segments, a keyframe each second
        source = f"testsrc=duration=1:size=160x120:rate=10,hue=h={90 * n}"
        encode = ["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", str(folder / f"seg-{n}.mp4")]
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, *encode], check=True)
    monkeypatch.chdir(tmp_path)
    relative = Path("rec of 6 o'clock")
    segments = [Segment(relative / f"seg-{n}.mp4", 100.0 + n, 101.0 + n, 1) for n in range(2)]
    span = cut(segments, 100.0, 102.0, tmp_path / "clip.mp4")
    assert span == (100.0, 102.0)
    assert abs(float(probe(tmp_path / "clip.mp4")["format"]["duration"]) - 2.0) < 0.15
