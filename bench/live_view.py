"""Live view: time from the click to the first frame in Chromium, and the gateway's CPU per viewer.

Real parts: a GStreamer RTSP camera, the edge process (its ffmpeg copying the stream to HLS and pushing it), Mosquitto
carrying the command, the gateway (in this process) keeping the segments in SeaweedFS, Debian's Chromium playing
them with hls.js. The floor for the first frame, same run, same camera: ffmpeg writing the same HLS to a local
folder with the edge's own input settings, timed to its first playlist (connect, half a second of probing, one
keyframe interval: what no design with one-second segments beats). Gateway CPU per viewer: this process's CPU
while `--viewers` pages watch, less the same time with none.

  python bench/live_view.py [--tries 3] [--viewers 2] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from tests.conftest import edge_yaml  # noqa: E402
from tests.console.browser import chromium, live_gateway, open_page, sign_in, wait_for_view  # noqa: E402
from tests.edge.video.rtsp import RtspServer  # noqa: E402
from tests.support import Mosquitto, http_json, start_service, wait_until  # noqa: E402
from wangge.gateway.accounts.tokens import issue_token  # noqa: E402
from wangge.gateway.storage.embedded import EmbeddedPostgres  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def floor_first_playlist(url: str, work: Path) -> float:
    """ffmpeg's HLS to a local folder: seconds from start to its first playlist."""
    out = work / f"floor-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    started = time.monotonic()
    proc = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-fflags", "nobuffer", "-analyzeduration", "500000",
         "-probesize", "500000", "-rtsp_transport", "tcp", "-i", url,
         "-map", "0:v:0", "-c", "copy", "-f", "hls", "-hls_time", "1", str(out / "index.m3u8")],
    )  # fmt: skip
    try:
        while not (out / "index.m3u8").exists():
            time.sleep(0.01)
            if time.monotonic() - started > 30:
                raise RuntimeError("ffmpeg wrote no playlist")
        return time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(10)


def watch(page: Any, base: str) -> float:
    page.goto(base + "/#/devices")
    wait_for_view(page, "devices")
    page.click("#devices tr[data-device-id='plaza-cam']")
    page.wait_for_selector("button.live-open")
    clicked = time.monotonic()
    page.click("button.live-open")
    page.wait_for_function("document.querySelector('#live-view')?.dataset.state === 'playing'", timeout=30000)
    return time.monotonic() - clicked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    print(f"when: {datetime.now(UTC).isoformat(timespec='seconds')}")
    clip = REPO.parent / "shared" / "assets" / "video" / "vtest.avi"
    with tempfile.TemporaryDirectory(prefix="wangge-live-") as tmp:
        work = Path(tmp)
        postgres = EmbeddedPostgres(work / "pg")
        db = postgres.url.replace("/postgres?", "/bench?")
        asyncio.run(_create_db(postgres.url))
        central, estate = Mosquitto(work / "central"), Mosquitto(work / "estate")
        central.start()
        estate.start()
        edge = None
        try:
            media = {"live": {"idle_s": 10, "max_sessions_per_edge": args.viewers + 1}}
            with (
                live_gateway(db, central.url, work / "gw", media=media) as gw,
                RtspServer({"plaza": f"file:{clip}"}, work / "rtsp.log") as rtsp,
            ):
                assert gw.world is not None
                (work / "edge-token").write_text(gw.run(_edge_token(gw)))
                config = edge_yaml(
                    work,
                    "demo-estate",
                    estate.url,
                    central.url,
                    video={
                        "model": None,
                        "live_max_sessions": args.viewers + 1,
                        "snapshot_upload": {"gateway_url": gw.base, "token_file": str(work / "edge-token")},
                    },
                    cameras=[{"id": "plaza-cam", "url": rtsp.url("plaza"), "record": {"enabled": False}}],
                )
                edge, _ = start_service(
                    "edge", config, work / "edge.log", lambda b: http_json(b + "/healthz")[0] == 200
                )
                token = gw.world.tokens["c1-operator"]
                wait_until(
                    lambda: (
                        http_json(gw.base + "/api/v1/devices?kind=camera", token)[1]["items"][0]["state"] == "online"
                    ),
                    60,
                    "the camera online",
                    interval=0.5,
                )
                floors = [floor_first_playlist(rtsp.url("plaza"), work) for _ in range(args.tries)]
                firsts = []
                with chromium() as browser:
                    for _ in range(args.tries):
                        context = browser.new_context()
                        page = open_page(context)
                        sign_in(page, gw.base, "c1-operator")
                        firsts.append(watch(page, gw.base))
                        context.close()
                    time.sleep(3)
                    quiet_cpu, t0 = cpu(), time.monotonic()
                    time.sleep(args.seconds)
                    quiet = (cpu() - quiet_cpu) / (time.monotonic() - t0)
                    contexts = []
                    for _ in range(args.viewers):
                        context = browser.new_context()
                        page = open_page(context)
                        sign_in(page, gw.base, "c1-operator")
                        watch(page, gw.base)
                        contexts.append(context)
                    busy_cpu, t0 = cpu(), time.monotonic()
                    time.sleep(args.seconds)
                    busy = (cpu() - busy_cpu) / (time.monotonic() - t0)
                    for context in contexts:
                        context.close()
        finally:
            if edge is not None:
                edge.kill()
            central.stop()
            estate.stop()
            postgres.stop()
    result = {
        "first_frame_s": round(statistics.median(firsts), 2),
        "first_frame_max_s": round(max(firsts), 2),
        "floor_first_playlist_s": round(statistics.median(floors), 2),
        "first_frame_ratio": round(statistics.median(firsts) / statistics.median(floors), 2),
        "gateway_cpu_pct_per_viewer": round(100 * (busy - quiet) / args.viewers, 2),
        "gateway_cpu_pct_quiet": round(100 * quiet, 2),
        "viewers": args.viewers,
    }
    print(f"first frames (s): {[round(f, 2) for f in firsts]}; floor (ffmpeg to a local playlist): {floors}")
    print(json.dumps(result))
    print(" ".join(f"{k}={v}" for k, v in result.items()))


async def _create_db(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute('CREATE DATABASE "bench"')
    finally:
        await conn.close()


async def _edge_token(gw: Any) -> str:
    async with gw.gateway.pool.acquire() as conn:
        token: str = await issue_token(conn, "bench edge", edge_id="demo-estate")
        return token


if __name__ == "__main__":
    main()
