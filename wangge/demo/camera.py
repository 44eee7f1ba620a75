"""The demo's camera: the PETS 2009 plaza clip that Debian's `opencv-doc` ships, made once into H.264 with a
keyframe a second (so recording, clips and live view copy it without re-encoding) and replayed as a camera
sends it, looped. Nothing of it is in the repository; without the package the demo runs on sensors alone."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SOURCES = (
    Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
    Path("/usr/share/opencv4/samples/data/vtest.avi"),
)
HOW_TO_ADD = (
    "no camera in the demo: it needs Debian's opencv-doc (the PETS 2009 plaza clip) and ffmpeg:"
    " sudo apt-get install opencv-doc ffmpeg (`make demo` installs them when run as root)"
)
CAMERA_ID = "plaza-cam"
# Where people cross the PETS plaza (0-1 of the image): a lawn zone one person walks through at about 21-30 s
# into the clip, and a tripwire across the walkway most of them cross.
LAWN = [[0.0, 0.4], [0.2, 0.4], [0.2, 0.6], [0.0, 0.6]]
TRIPWIRE = ([0.55, 0.35], [0.55, 0.95])


def source_clip() -> Path | None:
    return next((p for p in SOURCES if p.is_file()), None)


def prepare_clip(data_dir: Path) -> Path | None:
    """The camera's H.264 file under data_dir (made on the first start), or None saying why in the log."""
    source, ffmpeg = source_clip(), shutil.which("ffmpeg")
    if source is None or ffmpeg is None:
        return None
    target = data_dir / "camera" / "plaza.mp4"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part.mp4")
    done = subprocess.run(
        [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-an",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-g", "10", "-keyint_min", "10", "-sc_threshold", "0", str(partial)],
        capture_output=True,
        timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        log.error("the demo camera's clip could not be made: %s", done.stderr.decode(errors="replace")[-300:])
        return None
    partial.replace(target)
    return target


def camera_config(clip: Path) -> dict[str, Any]:
    return {
        "id": CAMERA_ID,
        "name": "广场摄像头 Plaza camera",
        "url": str(clip),
        "realtime": True,
        "blur_faces": True,
        "record": {"segment_s": 4, "pre_capture_s": 5, "post_capture_s": 5},
        "rules": [
            {
                "kind": "zone",
                "id": "plaza-lawn",
                "category": "security.intrusion",
                "title": "草坪闯入 Lawn intrusion",
                "polygon": LAWN,
                "inertia": 2,
            },
            {
                "kind": "line",
                "id": "plaza-tripwire",
                "category": "security.intrusion",
                "severity": "minor",
                "title": "越线 Tripwire crossed",
                "a": TRIPWIRE[0],
                "b": TRIPWIRE[1],
            },
        ],
    }
