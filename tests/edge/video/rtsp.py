"""The GStreamer RTSP server (tests/rtsp_server.py) as a child process, under Debian's Python."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.support import free_port

SERVER = Path(__file__).resolve().parents[2] / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def need_gstreamer() -> None:
    probe = (
        subprocess.run(
            [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"], capture_output=True
        )
        if os.path.exists(SYSTEM_PYTHON)
        else None
    )
    if probe is None or probe.returncode != 0:
        message = (
            "the GStreamer RTSP server is not installed (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0"
            " gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav; `make test` does this as root)"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


class RtspServer:
    def __init__(self, mounts: dict[str, str], log: Path, port: int | None = None, fps: int = 10) -> None:
        need_gstreamer()
        self.port = port or free_port()
        self.mounts = mounts
        self.log = log
        self.fps = fps
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start(self) -> RtspServer:
        args = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port), "--fps", str(self.fps)]
        for name, source in self.mounts.items():
            args += ["--mount", f"{name}={source}"]
        self.proc = subprocess.Popen(args, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while f"ready {self.port}" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the RTSP server did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.kill()
