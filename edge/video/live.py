"""Live view at the edge: on the gateway's command, ffmpeg copies a camera's stream (no decode, no encode) to
HLS and PUTs the playlist and one-second segments to the gateway with the edge's token. Each stream holds a lease
the gateway renews while someone watches; a lease that runs out stops the stream, so a lost stop command or a
gateway gone away never leaves a camera streaming. At most `live_max_sessions` at once: the uplink's budget.

Commands come from the broker and are hostile until checked: an unknown field, camera or session id is refused
and counted. The stream goes only to the gateway URL of this edge's own config, whatever a command says."""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wangge.edge import metrics
from wangge.edge.credentials import EdgeToken
from wangge.edge.video.recording import ffmpeg_binary, input_args

log = logging.getLogger(__name__)
MAX_LEASE_S = 300.0


class LiveCommand(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1]
    command: Literal["live.start", "live.keep", "live.stop"]
    session: UUID
    camera: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
    lease_s: float = Field(default=60.0, gt=0, le=MAX_LEASE_S)


@dataclass
class Stream:
    session: UUID
    camera: str
    proc: subprocess.Popen[bytes]
    lease_until: float
    errors: IO[bytes]

    def last_error(self) -> str:
        self.errors.seek(0, 2)
        self.errors.seek(max(0, self.errors.tell() - 300))
        return self.errors.read().decode(errors="replace").strip()


class LiveStreams:
    def __init__(
        self,
        edge_id: str,
        cameras: dict[str, str],
        gateway_url: str | None,
        token: EdgeToken | None,
        max_sessions: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._edge_id = edge_id
        self._cameras = cameras  # camera id → stream URL
        self._url = gateway_url.rstrip("/") if gateway_url else None
        self._token = token
        self._max = max_sessions
        self._clock = clock
        self._streams: dict[UUID, Stream] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for session in list(self._streams):
                self._end(session, "edge stopping")

    @property
    def running(self) -> int:
        return len(self._streams)

    def handle(self, payload: bytes) -> None:
        """One command from `wangge/edge/<id>/commands`."""
        try:
            command = LiveCommand.model_validate(json.loads(payload))
        except (ValueError, ValidationError) as exc:
            metrics.LIVE_REFUSED.labels("invalid").inc()
            log.warning("a command that is not a valid live-view command was ignored: %s", str(exc)[:200])
            return
        with self._lock:
            if command.command == "live.stop":
                self._end(command.session, "stopped by the gateway")
            elif command.command == "live.keep":
                stream = self._streams.get(command.session)
                if stream is not None:
                    stream.lease_until = self._clock() + command.lease_s
            else:
                self._begin(command)
            metrics.LIVE_SESSIONS.set(len(self._streams))

    def _begin(self, command: LiveCommand) -> None:
        if command.session in self._streams:
            self._streams[command.session].lease_until = self._clock() + command.lease_s
            return
        url = self._cameras.get(command.camera)
        if url is None:
            metrics.LIVE_REFUSED.labels("unknown_camera").inc()
            log.warning("live view of %r refused: not a camera of this edge", command.camera)
            return
        if len(self._streams) >= self._max or self._url is None or self._token is None:
            metrics.LIVE_REFUSED.labels("busy").inc()
            log.warning("live view of %s refused: %d streams already (the uplink budget)", command.camera, self._max)
            return
        base = f"{self._url}/api/v1/edges/{self._edge_id}/live/{command.session}"
        args = [
            ffmpeg_binary(),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-fflags",
            "nobuffer",
            # Half a second to learn the stream, not ffmpeg's default five: the viewer waits for this.
            "-analyzeduration",
            "500000",
            "-probesize",
            "500000",
            *input_args(url),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "6",
            "-hls_flags",
            "independent_segments+omit_endlist",
            "-method",
            "PUT",
            # One connection that waits for each answer: without it ffmpeg hangs up right after a body, and a
            # server still checking the token loses the upload.
            "-http_persistent",
            "1",
            "-headers",
            f"Authorization: Bearer {self._token.value()}\r\n",
            "-hls_segment_filename",
            f"{base}/seg-%d.ts",
            f"{base}/index.m3u8",
        ]
        errors = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the stream; a pipe nobody reads stalls ffmpeg)
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        self._streams[command.session] = Stream(
            command.session, command.camera, proc, self._clock() + command.lease_s, errors
        )
        log.info("live view of %s started (session %s)", command.camera, command.session)

    def _end(self, session: UUID, why: str) -> None:
        stream = self._streams.pop(session, None)
        if stream is None:
            return
        if stream.proc.poll() is None:
            stream.proc.terminate()
            try:
                stream.proc.wait(5)
            except subprocess.TimeoutExpired:
                stream.proc.kill()
        complaint = stream.last_error()
        stream.errors.close()
        log.info("live view of %s ended (%s)%s", stream.camera, why, f"; ffmpeg said: {complaint}" if complaint else "")
        metrics.LIVE_SESSIONS.set(len(self._streams))

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            now = self._clock()
            with self._lock:
                for session, stream in list(self._streams.items()):
                    if now > stream.lease_until:
                        self._end(session, "lease ran out: nobody watches")
                    elif stream.proc.poll() is not None:
                        self._end(session, f"ffmpeg exited: {stream.last_error() or stream.proc.returncode}")
