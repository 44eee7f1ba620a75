"""A GStreamer RTSP server for the tests and benchmarks: each mount replays a video file (looped, encoded to H.264
as it goes), an MP4 that already holds H.264 (sent without re-encoding, once through), or a test pattern over
RTSP, the way an IP camera serves it.

Runs under Debian's own Python (/usr/bin/python3, which has PyGObject and GstRtspServer), not the venv:

  /usr/bin/python3 tests/rtsp_server.py --port 8554 --mount cam1=file:/path/clip.avi --mount cam2=pattern:ball

Prints `ready <port>` when it serves. Killing it drops every client, as a camera losing power would.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(source: str, fps: int, width: int | None, height: int | None) -> str:
    caps = f"video/x-raw,framerate={fps}/1" + (f",width={width},height={height}" if width and height else "")
    encode = (
        f"videoconvert ! videoscale ! videorate ! {caps} ! x264enc tune=zerolatency speed-preset=ultrafast"
        f" key-int-max={fps} bitrate=2000 ! rtph264pay name=pay0 pt=96 config-interval=1"
    )
    kind, _, value = source.partition(":")
    if kind == "pattern":
        size = f",width={width or 640},height={height or 360}"
        return f"( videotestsrc is-live=true pattern={value} ! video/x-raw,framerate={fps}/1{size} ! {encode} )"
    if kind == "file":
        return f"( multifilesrc location={value} loop=true ! decodebin ! {encode} )"
    if kind == "h264":  # an MP4 already holding H.264, sent as it is (no decode, no encode), in real time
        return f"( filesrc location={value} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    raise SystemExit(f"unknown source {source!r}: use file:PATH, h264:PATH or pattern:NAME")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", action="append", default=[], help="NAME=file:PATH, h264:PATH or pattern:ball")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--size", default="", help="WIDTHxHEIGHT to scale to")
    args = parser.parse_args()
    Gst.init(None)
    width, height = (int(v) for v in args.size.split("x")) if args.size else (None, None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for mount in args.mount:
        name, _, source = mount.partition("=")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(source, args.fps, width, height))
        factory.set_shared(True)
        mounts.add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on port {args.port}")
    print(f"ready {args.port}", flush=True)
    try:
        GLib.MainLoop().run()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
