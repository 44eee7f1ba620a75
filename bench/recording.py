"""What recording costs at the edge: N cameras analysed by the real pipeline (capture, motion gating, the
detector, tracking, rules), once without and once with recording (ffmpeg stream copy into segments, the janitor
probing and pruning them), on the same RTSP streams in one run.

Real parts: a GStreamer RTSP server (tests/rtsp_server.py) replaying the PETS clip as H.264 at 10 fps (its own
CPU is not counted), ffmpeg and ffprobe from Debian. CPU is this process (analysis) plus its children (the
recorders and probes, counted once they exit), over the same wall time. YOLOX-Nano from ../shared/assets when
there, else HOG.

  python bench/recording.py [--cameras 2] [--seconds 40]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.edge.video.rtsp import RtspServer  # noqa: E402
from wangge.edge.alerts import AlertComposer  # noqa: E402
from wangge.edge.outbox import Outbox  # noqa: E402
from wangge.edge.video.config import CameraConfig, VideoConfig  # noqa: E402
from wangge.edge.video.pipeline import VideoService  # noqa: E402

ASSETS = REPO.parent / "shared" / "assets"
CLIP = ASSETS / "video" / "vtest.avi"
MODEL_DIR = ASSETS / "models" / "yolox_nano"
ZONE = [[0.0, 0.4], [0.2, 0.4], [0.2, 0.6], [0.0, 0.6]]


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run(rtsp: RtspServer, n: int, seconds: float, record: bool, tmp: Path) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(dir=tmp))
    cameras = [
        CameraConfig.model_validate(
            {
                "id": f"cam{i}",
                "url": rtsp.url(f"cam{i}"),
                "record": {"enabled": record, "segment_s": 10},
                "rules": [{"kind": "zone", "id": "lawn", "category": "security.intrusion", "polygon": ZONE}],
            }
        )
        for i in range(n)
    ]
    model = "yolox_nano" if (MODEL_DIR / "yolox_nano.onnx").is_file() else None
    composer = AlertComposer("bench", {}, Outbox(work / "outbox.sqlite3"))
    video = VideoService("bench", VideoConfig(model=model, model_dir=MODEL_DIR), cameras, composer, work)
    video.start()
    deadline = time.monotonic() + 40
    while any(w.processed < 5 for w in video.workers) or (
        record and any(not r.running for r in video.recording.recorders.values())
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("cameras did not start")
        time.sleep(0.2)
    first = {c: len(r.segments()) for c, r in video.recording.recorders.items()}
    own, children, wall = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.monotonic()
    processed = sum(w.processed for w in video.workers)
    time.sleep(seconds)
    wall = time.monotonic() - wall
    processed = sum(w.processed for w in video.workers) - processed
    segments = {c: r.segments() for c, r in video.recording.recorders.items()}
    video.stop()  # the recorders exit and are reaped: their CPU is in RUSAGE_CHILDREN from here
    own = cpu(resource.RUSAGE_SELF) - own
    children = cpu(resource.RUSAGE_CHILDREN) - children
    recorded = [s for c, found in segments.items() for s in found[first[c] :]]
    seconds_recorded = sum(s.end - s.start for s in recorded)
    return {
        "pipeline_cpu_pct_per_camera": 100 * own / wall / n,
        "recording_cpu_pct_per_camera": 100 * children / wall / n,
        "total_cpu_pct_per_camera": 100 * (own + children) / wall / n,
        "fps_per_camera": processed / wall / n,
        "mb_per_hour_per_camera": (sum(s.size for s in recorded) / 1e6) / seconds_recorded * 3600
        if seconds_recorded
        else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    print(f"when: {datetime.now(UTC).isoformat(timespec='seconds')}")
    if not CLIP.is_file():
        raise SystemExit(f"{CLIP} is missing: ../shared/assets must sit beside the repository")
    with tempfile.TemporaryDirectory(prefix="wangge-recording-") as tmp:
        mounts = {f"cam{i}": f"file:{CLIP}" for i in range(args.cameras)}
        with RtspServer(mounts, Path(tmp) / "rtsp.log") as rtsp:
            floor = run(rtsp, args.cameras, args.seconds, False, Path(tmp))
            recording = run(rtsp, args.cameras, args.seconds, True, Path(tmp))
    print("| run | analysed fps/camera | analysis CPU %/camera | recorder CPU %/camera | total CPU %/camera |")
    print("|---|---|---|---|---|")
    for name, r in (("analysis only (floor)", floor), ("analysis + recording", recording)):
        print(
            f"| {name} | {r['fps_per_camera']:.2f} | {r['pipeline_cpu_pct_per_camera']:.1f} |"
            f" {r['recording_cpu_pct_per_camera']:.2f} | {r['total_cpu_pct_per_camera']:.1f} |"
        )
    result: dict[str, Any] = {
        "cameras": args.cameras,
        "recording_cpu_pct_per_camera": round(recording["recording_cpu_pct_per_camera"], 2),
        "recording_added_cpu_pct_per_camera": round(
            recording["total_cpu_pct_per_camera"] - floor["total_cpu_pct_per_camera"], 2
        ),
        "pipeline_cpu_ratio": round(recording["total_cpu_pct_per_camera"] / floor["total_cpu_pct_per_camera"], 3),
        "recording_mb_per_hour": round(recording["mb_per_hour_per_camera"], 1),
        "floor_cpu_pct_per_camera": round(floor["total_cpu_pct_per_camera"], 1),
    }
    print(json.dumps(result))
    print(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
