"""What an uploaded clip really is, asked of ffprobe (Debian's ffmpeg) in a process of its own with a deadline:
an MP4 with an H.264 or H.265 video stream of a sane length, or a refusal saying why. A file ffprobe chokes on
costs that process, never the gateway."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

VIDEO_CODECS = ("h264", "hevc")
PROBE_TIMEOUT_S = 15.0


class ClipRefused(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ProbeUnavailable(RuntimeError):
    """ffprobe is not installed on this gateway."""


@dataclass(frozen=True)
class ClipFacts:
    duration_s: float
    codec: str
    width: int
    height: int


def ffprobe() -> str:
    found = shutil.which("ffprobe")
    if found is None:
        raise ProbeUnavailable("the gateway needs ffprobe to check clips: apt-get install ffmpeg")
    return found


async def probe_clip(data: bytes, max_s: float) -> ClipFacts:
    with tempfile.TemporaryDirectory(prefix="wangge-clip-") as folder:
        path = Path(folder) / "clip.mp4"
        path.write_bytes(data)
        proc = await asyncio.create_subprocess_exec(
            ffprobe(),
            "-v", "error",
            "-print_format", "json",
            "-show_format",
            "-show_streams",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ClipRefused("not_video", f"ffprobe gave up on the clip after {PROBE_TIMEOUT_S:.0f}s") from None
    complaint = err.decode(errors="replace").strip()
    if proc.returncode != 0 or complaint:  # "partial file", "moov atom not found", bad NAL units: damaged
        raise ClipRefused("not_video", f"not a whole, readable video: {complaint[:200] or proc.returncode}")
    try:
        facts = json.loads(out)
        form = facts["format"]
        video = [s for s in facts.get("streams", []) if s.get("codec_type") == "video"]
    except (ValueError, KeyError, TypeError):
        raise ClipRefused("not_video", "ffprobe could not describe the clip") from None
    if "mp4" not in str(form.get("format_name", "")).split(","):
        raise ClipRefused("not_video", f"the clip is {form.get('format_name')!r}, not MP4")
    if len(video) != 1 or video[0].get("codec_name") not in VIDEO_CODECS:
        codecs = [s.get("codec_name") for s in video]
        raise ClipRefused("not_video", f"a clip has one H.264 or H.265 video stream, not {codecs}")
    try:
        duration = float(form.get("duration") or video[0].get("duration") or 0)
    except (TypeError, ValueError):
        duration = 0.0
    if not 0 < duration <= max_s:
        raise ClipRefused(
            "too_long", f"the clip lasts {duration:.1f}s; a part lasts more than 0 and at most {max_s:g}s"
        )
    return ClipFacts(
        duration, str(video[0]["codec_name"]), int(video[0].get("width", 0)), int(video[0].get("height", 0))
    )
