"""Edge video capacity on this machine: a realistic camera mix served over RTSP by a GStreamer RTSP server
(tests/rtsp_server.py) that sends pre-encoded H.264 as it is — each clip is encoded once at bench start, so the
server only packetises and the edge is what is measured — analysed at 5 fps by the real pipeline (capture
threads, motion gating, one shared YOLOX-Nano session, ByteTrack, rules, outbox).

Busy cameras replay the two shared clips (people walking all the time); quiet cameras show a still scene — the
PETS plaza with its people taken out (the per-pixel median of its frames) — with sensor noise on every frame
and the light slowly coming and going, as an estate camera shows most of the day, where motion gating should
skip almost every frame.

For each mix (busy+quiet): analysed fps per camera, frames skipped (a due frame replaced before analysis),
this process's CPU per camera, inference calls per second. The floor, measured in the same run on the same
streams: decode-only (OpenCV decoding every stream of the mix for as long, converting the frames at the
analysed rate to BGR, nothing else) plus inference-only (the detector again on the very images the pipeline
gave it: whole frames and the regions around motion it cropped, which a model run at the image's own size
infers more cheaply); floor_ratio = pipeline CPU / floor CPU for the largest mix. CPU per camera of each kind
comes from the mixes of one kind alone. inference_saved = the share of analysed frames
that motion gating kept from the detector in the largest mix.

  python bench/video_pipeline.py [--mixes 4+0,0+12,4+12] [--seconds 20]
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

REPO = Path(__file__).resolve().parents[1]
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
STREAM_FPS = 10
ZONE = [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]
SERVED_S = 600  # each pre-encoded stream lasts this long: longer than the whole bench, so none ends mid-run


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def encode(args: list[str], out: Path, stdin: bytes | None = None) -> Path:
    """H.264 as a camera sends it: a keyframe a second, constant frame rate, no audio."""
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", *args, "-an", "-c:v", "libx264", "-preset", "veryfast"),
            *("-g", str(STREAM_FPS), "-r", str(STREAM_FPS), "-pix_fmt", "yuv420p", str(out)),
        ],
        input=stdin,
        check=True,
    )
    return out


def looped(once: Path, out: Path) -> Path:
    """`once` repeated to SERVED_S by stream copy (no second encode)."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(once),
            "-c",
            "copy",
            "-t",
            f"{SERVED_S}",
            f"{out}",
        ],
        check=True,
    )
    return out


def busy_clip(clip: Path, out: Path) -> Path:
    return looped(encode(["-i", str(clip)], out.with_suffix(".once.mp4")), out)


def quiet_clip(out: Path, seconds: float = 60.0, seed: int = 7) -> Path:
    """The plaza without people, with sensor noise (σ 3 grey levels) and the light swinging ±12 % over a minute;
    `seconds` of it, looped to SERVED_S."""
    capture = cv2.VideoCapture(str(CLIPS[0]))
    samples = []
    for i in range(795):
        ok, frame = capture.read()
        if not ok:
            break
        if i % 16 == 0:
            samples.append(frame)
    plate = np.median(np.stack(samples), axis=0).astype(np.float32)
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(int(seconds * STREAM_FPS)):
        light = 1.0 + 0.12 * np.sin(2 * np.pi * i / (seconds * STREAM_FPS))
        noisy = plate * light + rng.normal(0.0, 3.0, plate.shape).astype(np.float32)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8).tobytes())
    h, w = plate.shape[:2]
    raw = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", str(STREAM_FPS), "-i", "-"]
    return looped(encode(raw, out.with_suffix(".once.mp4"), b"".join(frames)), out)


def mounts(busy: int, quiet: int) -> list[str]:
    """The RTSP mount (and camera id) of each camera of a mix."""
    return [f"busy{i}" for i in range(busy)] + [f"quiet{i}" for i in range(quiet)]


def cameras(rtsp: RtspServer, busy: int, quiet: int) -> list[CameraConfig]:
    return [
        CameraConfig.model_validate(
            {
                "id": name,
                "url": rtsp.url(name),
                "detect": {"fps": FPS},
                "record": {"enabled": False},  # analysis alone; bench/recording.py measures what recording adds
                "rules": [{"kind": "zone", "id": "yard", "category": "security.intrusion", "polygon": ZONE}],
            }
        )
        for name in mounts(busy, quiet)
    ]


def run_pipeline(
    rtsp: RtspServer, busy: int, quiet: int, seconds: float, tmp: Path
) -> tuple[dict[str, float], list[np.ndarray]]:
    """The mix's figures, and the images the detector was given while measured (for the floor)."""
    n = busy + quiet
    work = Path(tempfile.mkdtemp(dir=tmp))
    composer = AlertComposer("bench", {}, Outbox(work / "outbox.sqlite3"))
    video = VideoService("bench", VideoConfig(model_dir=MODEL_DIR), cameras(rtsp, busy, quiet), composer, work)
    assert isinstance(video.detector, OnnxDetector)
    video.start()
    deadline = time.monotonic() + 60
    while any(w.processed < 5 for w in video.workers):  # connected and warm
        if time.monotonic() > deadline:
            video.stop()
            raise RuntimeError("cameras did not start")
        time.sleep(0.2)
    before = [(w.processed, w.capture.skipped, w.capture.frames) for w in video.workers]
    given: list[np.ndarray] = []  # what the detector is given while measured, for the floor to infer again
    detect = video.detector.detect

    def keeping(frames: list[np.ndarray]) -> list[sv.Detections]:
        given.extend(frames)  # references: the capture makes a new array for every frame
        return detect(frames)

    # The cameras hold the detector itself: its method is replaced on the instance for the measured seconds.
    video.detector.detect = keeping  # type: ignore[method-assign]
    inferences, cpu, wall = video.detector.inferences, cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - wall
    cpu = cpu_seconds() - cpu
    inferred = video.detector.inferences - inferences
    video.detector.detect = detect  # type: ignore[method-assign]
    after = [(w.processed, w.capture.skipped, w.capture.frames) for w in video.workers]
    video.stop()
    processed = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    slowest = min((a[0] - b[0]) / wall for a, b in zip(after, before, strict=True))
    figures = {
        "cameras": n,
        "fps_per_camera": processed / wall / n,
        "slowest_fps": slowest,
        "skipped": sum(a[1] - b[1] for a, b in zip(after, before, strict=True)),
        "processed": processed,
        "inferences": inferred,
        "inferences_per_s": inferred / wall,
        "cpu_per_camera": cpu / wall / n,
        "cpu": cpu,
        "wall": wall,
    }
    return figures, given


def decode_only(urls: list[str], seconds: float, settle_s: float = 5.0) -> float:
    """CPU seconds for OpenCV to decode every frame of every stream for `seconds` and convert the ones at the
    analysed rate to BGR (what any analysis at 5 fps of a 10 fps stream must do; waiting for frames costs
    nothing), after `settle_s` of it: a new RTSP client first gets a burst of the seconds the server had
    buffered, which the pipeline's warm-up also lets pass before it is measured."""
    captures = [open_stream(url, 10.0) for url in urls]
    stop = time.monotonic() + settle_s + seconds
    step = round(STREAM_FPS / FPS)

    def drain(capture: cv2.VideoCapture) -> None:
        grabbed = 0
        while time.monotonic() < stop and capture.grab():
            grabbed += 1
            if grabbed % step == 0:
                capture.retrieve()

    threads = [threading.Thread(target=drain, args=(c,)) for c in captures]
    for t in threads:
        t.start()
    time.sleep(settle_s)
    start = cpu_seconds()
    time.sleep(seconds)
    used = cpu_seconds() - start
    for t in threads:
        t.join()
    for capture in captures:
        capture.release()
    return used


def inference_only(detector: OnnxDetector, images: list[np.ndarray]) -> float:
    """The detector on each image the pipeline gave it, one call each, as the cameras call it."""
    for image in images[:5]:
        detector.detect([image])
    start = cpu_seconds()
    for image in images:
        detector.detect([image])
    return cpu_seconds() - start


def parse_mix(text: str) -> tuple[int, int]:
    busy, _, quiet = text.partition("+")
    return int(busy), int(quiet or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mixes", default="4+0,0+12,4+12", help="busy+quiet camera counts, the last one judged")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    mixes = [parse_mix(m) for m in args.mixes.split(",")]
    if not all(c.exists() for c in CLIPS):
        sys.exit(f"missing {CLIPS}: this benchmark needs ../shared/assets")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.monotonic()
        busy_files = [busy_clip(c, tmp / f"busy{i}.mp4") for i, c in enumerate(CLIPS)]
        quiet_file = quiet_clip(tmp / "quiet.mp4")
        print(f"clips encoded once in {time.monotonic() - started:.0f} s", flush=True)
        most_busy, most_quiet = max(b for b, _ in mixes), max(q for _, q in mixes)
        sources = {f"busy{i}": f"h264:{busy_files[i % len(busy_files)]}" for i in range(most_busy)}
        sources |= {name: f"h264:{quiet_file}" for name in mounts(0, most_quiet)}
        results: list[dict[str, float]] = []
        with RtspServer(sources, tmp / "rtsp.log", fps=STREAM_FPS) as rtsp:
            for busy, quiet in mixes:
                r, given = run_pipeline(rtsp, busy, quiet, args.seconds, tmp)
                results.append(r | {"busy": busy, "quiet": quiet})
                print(
                    f"{busy:2d} busy + {quiet:2d} quiet: {r['fps_per_camera']:.2f} analysed fps each (slowest"
                    f" {r['slowest_fps']:.2f}), skipped {r['skipped']:.0f}, {r['inferences_per_s']:.1f} inferences/s,"
                    f" CPU {r['cpu_per_camera'] * 100:.1f} % of a core per camera",
                    flush=True,
                )
            judged = results[-1]
            busy, quiet = mixes[-1]
            decode_cpu = decode_only([rtsp.url(name) for name in mounts(busy, quiet)], judged["wall"])
        detector = build_detector("yolox_nano", MODEL_DIR)
        assert isinstance(detector, OnnxDetector)
        infer_cpu = inference_only(detector, given)  # the last mix's, the one judged
    floor = decode_cpu + infer_cpu
    ratio = judged["cpu"] / floor if floor else float("nan")
    saved = 1 - judged["inferences"] / judged["processed"] if judged["processed"] else 0.0
    sustained = judged["skipped"] == 0 and judged["slowest_fps"] >= FPS * 0.95
    alone = {"busy": [r for r in results if r["quiet"] == 0], "quiet": [r for r in results if r["busy"] == 0]}
    per_kind = {kind: rs[0]["cpu_per_camera"] if rs else float("nan") for kind, rs in alone.items()}
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()},"
        f" cv2 {cv2.__version__}"
    )
    print(
        f"{busy}+{quiet} for {judged['wall']:.0f} s: pipeline CPU {judged['cpu']:.2f} s; floor {floor:.2f} s"
        f" (decode-only {decode_cpu:.2f} s for the same streams as long + inference-only {infer_cpu:.2f} s for"
        f" {judged['inferences']:.0f} frames); {'sustained' if sustained else 'NOT sustained'} at {FPS:.0f} fps"
    )
    print(
        f"CPU per camera: busy {per_kind['busy'] * 100:.1f} %, quiet {per_kind['quiet'] * 100:.1f} % of a core"
        f" (from the mixes of one kind)"
    )
    print(
        f"cameras={busy + quiet if sustained else 0} busy={busy} quiet={quiet} floor_ratio={ratio:.2f}"
        f" inference_saved={saved:.2f} cpu_busy={per_kind['busy']:.3f} cpu_quiet={per_kind['quiet']:.3f}"
    )


if __name__ == "__main__":
    main()
