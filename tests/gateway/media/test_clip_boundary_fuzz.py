"""Hostile clip uploads through the real app, ffprobe, SeaweedFS and PostgreSQL, and hostile live-view commands
at the edge: a clip stored once, or a refusal naming what is wrong and counted; never a 5xx, never a row without
its object, never an ffmpeg started by a command that is not one."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import need_binary
from tests.gateway import world as w
from tests.gateway.cases.test_cases_api import FRIDAY_1730, open_ticket
from tests.gateway.media.test_object_storage import edge_token
from wangge.edge import metrics as edge_metrics
from wangge.edge.video.live import LiveStreams
from wangge.gateway import metrics
from wangge.gateway.cases.config import CasesConfig
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.http.context import MEDIA


def make_clip(path: Path) -> bytes:
    """Three seconds of H.264 test pattern as fragmented MP4, as the edge cuts them."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
         "-t", "3", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p",
         "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def overwrite(data: bytes, at: int, junk: bytes) -> bytes:
    return data[:at] + junk + data[at + len(junk) :]


def counted(metric: Any) -> float:
    return sum(s.value for m in metric.collect() for s in m.samples if s.name.endswith("_total"))


def mutations(clip: bytes) -> st.SearchStrategy[bytes]:
    cut = st.integers(1, len(clip) - 1)
    return st.one_of(
        st.binary(max_size=2048),
        cut.map(lambda n: clip[:n]),  # truncated
        st.tuples(cut, st.binary(min_size=1, max_size=64)).map(lambda t: overwrite(clip, *t)),
        st.just(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100),
        st.just(clip + b"<html><script>alert(1)</script>"),
    )


def test_any_clip_upload_is_stored_once_or_refused_and_counted(database_url: str, tmp_path: Path) -> None:
    need_binary("ffmpeg", "ffmpeg")
    clip = make_clip(tmp_path / "clip.mp4")
    bodies: list[tuple[bytes, str, str, str, str]] = []

    @given(
        mutations(clip),
        st.one_of(st.just("video/mp4"), st.sampled_from(["image/jpeg", "application/octet-stream", ""])),
        st.one_of(st.just("cam-1"), st.text(max_size=12)),
        st.one_of(st.just("0"), st.integers(-5, 20000).map(str), st.text(max_size=5)),
        st.one_of(st.just("2026-09-18T09:30:00Z"), st.text(max_size=30)),
    )
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def draw(body: bytes, content_type: str, camera: str, part: str, covers: str) -> None:
        bodies.append((body, content_type, camera, part, covers))

    draw()

    async def scenario(client: Any, world: w.World, pool: Any) -> None:
        alert_id = str(uuid.uuid4())
        await open_ticket(pool, CaseRules.from_config(CasesConfig()), FRIDAY_1730, alert_id=alert_id)
        box = f"Bearer {await edge_token(pool)}"
        refused_before = counted(metrics.MEDIA_REFUSED)
        base = f"/api/v1/edges/demo-estate/alerts/{alert_id}/clips"
        good = f"{base}/cam-1/0?covers_from=2026-09-18T09:29:55Z&covers_to=2026-09-18T09:29:58Z"
        headers = {"Authorization": box, "Content-Type": "video/mp4"}
        resp = await client.put(good, data=clip, headers=headers)
        assert resp.status == 201, await resp.text()
        resp = await client.put(good, data=clip, headers=headers)
        assert resp.status == 200  # the same part again: acknowledged, not stored twice
        stored = 1
        for body, content_type, camera, part, covers in bodies:
            url = f"{base}/{camera}/{part}?covers_from={covers}&covers_to=2026-09-18T09:30:03Z"
            resp = await client.put(url, data=body, headers={"Authorization": box, "Content-Type": content_type})
            text = await resp.text()
            assert resp.status in (200, 201, 400, 404, 413, 415, 422), (resp.status, text[:300])
            if resp.status >= 400:
                problem = json.loads(text)  # a problem document, naming what is wrong
                assert problem["title"] and problem["status"] == resp.status, text
                assert problem.get("detail") or resp.status == 404, text  # no detail: a path that is no route
            stored += resp.status == 201
        rows = await pool.fetch("SELECT object_key, size FROM attachments WHERE kind = 'clip'")
        assert len(rows) == stored
        assert counted(metrics.MEDIA_REFUSED) > refused_before  # damaged and foreign files were counted as refused
        media = client.server.app[MEDIA]
        for row in rows:  # every row has its object, whole
            assert len(await media.store.get(row["object_key"])) == row["size"]

    w.run_api(database_url, scenario)


commands = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["v", "command", "session", "camera", "lease_s", "push_path", "x"]),
                    st.one_of(st.integers(), st.text(max_size=40), st.floats(), st.none(), st.just(1),
                              st.sampled_from(["live.start", "live.keep", "live.stop"]), st.just(str(uuid.UUID(int=7))),
                              st.just("plaza-cam"), st.just("../../etc"))).map(lambda d: json.dumps(d).encode()),
)  # fmt: skip


@given(commands)
@settings(max_examples=300, deadline=None)
def test_a_hostile_command_never_starts_a_stream_nor_raises(payload: bytes) -> None:
    # No stream may start here: the edge's budget is 0, so even a well-formed start is refused (and counted).
    live = LiveStreams("e1", {"plaza-cam": "rtsp://127.0.0.1:1/x"}, "http://127.0.0.1:1", None, max_sessions=0)
    before = counted(edge_metrics.LIVE_REFUSED)
    live.handle(payload)
    assert live.running == 0
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    refused = counted(edge_metrics.LIVE_REFUSED) - before
    assert refused in (0, 1)
    if not isinstance(parsed, dict) or "command" not in parsed or parsed.get("command") == "live.start":
        assert refused == 1  # not a command, or a start: refused (invalid, or over the budget of 0) and counted
