"""Edge video throughput on this machine: N cameras replaying the shared clips over RTSP from a GStreamer RTSP
server (tests/rtsp_server.py, H.264), analysed at 5 detect-fps by the real pipeline (capture threads, motion
gating, one shared YOLOX-Nano session, ByteTrack, rules, outbox).

For each N: analysed fps per camera, frames skipped (a due frame replaced before analysis), this process's CPU
per camera, inference calls per second. The floor, measured in the same run on the same streams: decode-only
(OpenCV reading the RTSP streams, nothing else) plus inference-only (the detector on as many frames as the
pipeline inferred); floor_ratio = pipeline CPU / floor CPU for one camera. inference_saved compares inference
calls with motion gating against the same run without it.

  python bench/video_pipeline.py [--cameras 1,2,4,6] [--seconds 20]
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO))

from tests.edge.video.rtsp import RtspServer  # noqa: E402
from wangge.edge.alerts import AlertComposer  # noqa: E402
from wangge.edge.outbox import Outbox  # noqa: E402
from wangge.edge.video.capture import open_stream  # noqa: E402
from wangge.edge.video.config import CameraConfig, VideoConfig  # noqa: E402
from wangge.edge.video.detector import OnnxDetector, build_detector  # noqa: E402
from wangge.edge.video.pipeline import VideoService  # noqa: E402

ASSETS = REPO.parent / "shared" / "assets"
CLIPS = [ASSETS / "video" / "vtest.avi", ASSETS / "video" / "one-by-one-person-detection.mp4"]
MODEL_DIR = ASSETS / "models" / "yolox_nano"
FPS = 5.0
ZONE = [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cameras(rtsp: RtspServer, n: int, gating: bool) -> list[CameraConfig]:
    return [
        CameraConfig.model_validate(
            {
                "id": f"cam{i}",
                "url": rtsp.url(f"cam{i}"),
                "detect": {"fps": FPS},
                "motion_gating": gating,
                "record": {"enabled": False},  # analysis alone; bench/recording.py measures what recording adds
                "rules": [{"kind": "zone", "id": "yard", "category": "security.intrusion", "polygon": ZONE}],
            }
        )
        for i in range(n)
    ]


def run_pipeline(rtsp: RtspServer, n: int, seconds: float, gating: bool, tmp: Path) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(dir=tmp))
    composer = AlertComposer("bench", {}, Outbox(work / "outbox.sqlite3"))
    video = VideoService("bench", VideoConfig(model_dir=MODEL_DIR), cameras(rtsp, n, gating), composer, work)
    assert isinstance(video.detector, OnnxDetector)
    video.start()
    deadline = time.monotonic() + 30
    while any(w.processed < 5 for w in video.workers):  # connected and warm
        if time.monotonic() > deadline:
            raise RuntimeError("cameras did not start")
        time.sleep(0.2)
    before = [(w.processed, w.capture.skipped, w.capture.frames) for w in video.workers]
    inferences, cpu, wall = video.detector.inferences, cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - wall
    cpu = cpu_seconds() - cpu
    inferred = video.detector.inferences - inferences
    after = [(w.processed, w.capture.skipped, w.capture.frames) for w in video.workers]
    video.stop()
    processed = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    return {
        "fps_per_camera": processed / wall / n,
        "skipped": sum(a[1] - b[1] for a, b in zip(after, before, strict=True)),
        "decoded": sum(a[2] - b[2] for a, b in zip(after, before, strict=True)),
        "processed": processed,
        "inferences": inferred,
        "inferences_per_s": inferred / wall,
        "cpu_per_camera": cpu / wall / n,
        "cpu": cpu,
        "wall": wall,
    }


def decode_only(url: str, frames: int) -> float:
    """CPU seconds for OpenCV to read `frames` frames of the stream (waiting for them costs nothing)."""
    capture = open_stream(url, 5.0)
    for _ in range(10):
        capture.read()
    start = cpu_seconds()
    for _ in range(frames):
        ok, _frame = capture.read()
        if not ok:
            break
    used = cpu_seconds() - start
    capture.release()
    return used


def inference_only(detector: OnnxDetector, frames: int) -> float:
    capture = cv2.VideoCapture(str(CLIPS[0]))
    images = [capture.read()[1] for _ in range(20)]
    detector.detect([images[0]])
    start = cpu_seconds()
    for i in range(frames):
        detector.detect([images[i % len(images)]])
    return cpu_seconds() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cameras", default="1,2,4,6")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    counts = [int(c) for c in args.cameras.split(",")]
    if not CLIPS[0].exists():
        sys.exit(f"missing {CLIPS[0]}: this benchmark needs ../shared/assets")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        mounts = {f"cam{i}": f"file:{CLIPS[i % len(CLIPS)]}" for i in range(max(counts))}
        with RtspServer(mounts, tmp / "rtsp.log", fps=10) as rtsp:
            # The floor and motion gating first: the server shares this machine, and the largest N may overload it.
            one = run_pipeline(rtsp, 1, args.seconds, True, tmp)
            detector = build_detector("yolox_nano", MODEL_DIR)
            assert isinstance(detector, OnnxDetector)
            decode_cpu = decode_only(rtsp.url("cam0"), int(one["decoded"]))
            infer_cpu = inference_only(detector, int(one["inferences"]))
            ungated = run_pipeline(rtsp, 2, args.seconds, False, tmp)
            gated = run_pipeline(rtsp, 2, args.seconds, True, tmp)
            results: dict[int, dict[str, float]] = {}
            for n in counts:
                try:
                    results[n] = r = run_pipeline(rtsp, n, args.seconds, True, tmp)
                except RuntimeError:
                    print(f"{n:2d} cameras: the RTSP server on this same machine could not serve them; stopping")
                    break
                print(
                    f"{n:2d} cameras: {r['fps_per_camera']:.2f} analysed fps each, skipped {r['skipped']:.0f},"
                    f" {r['inferences_per_s']:.1f} inferences/s,"
                    f" CPU {r['cpu_per_camera'] * 100:.0f} % of a core per camera",
                    flush=True,
                )
    floor = decode_cpu + infer_cpu
    ratio = one["cpu"] / floor if floor else float("nan")
    sustained = max(
        (n for n, r in results.items() if r["skipped"] == 0 and r["fps_per_camera"] >= FPS * 0.95), default=0
    )
    saved = 1 - gated["inferences"] / ungated["inferences"] if ungated["inferences"] else 0.0
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()},"
        f" cv2 {cv2.__version__}"
    )
    print(
        f"one camera for {one['wall']:.0f} s: pipeline CPU {one['cpu']:.2f} s; floor {floor:.2f} s"
        f" (decode-only {decode_cpu:.2f} s for {one['decoded']:.0f} frames + inference-only {infer_cpu:.2f} s"
        f" for {one['inferences']:.0f} frames)"
    )
    print(
        f"motion gating (2 cameras, both clips): {gated['inferences_per_s']:.1f} inferences/s with,"
        f" {ungated['inferences_per_s']:.1f} without"
    )
    print(f"cameras={sustained} floor_ratio={ratio:.2f} inference_saved={saved:.2f}")


if __name__ == "__main__":
    main()
