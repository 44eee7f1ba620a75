"""Per camera: capture → analysis → alerts and snapshots, on its own thread so one broken camera never holds up
the others; one detector shared by all. A detector that fails at run time puts the camera on motion-only alerts
(marked degraded) and is tried again every `retry_s`; a camera with no frames raises `camera_offline`."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import supervision as sv

from wangge import alert_format
from wangge.detectors.video.analyzer import CameraAnalyzer, FrameResult
from wangge.detectors.video.boxes import Frame
from wangge.detectors.video.rules import VideoEvent
from wangge.detectors.video.tamper import TamperDetector
from wangge.edge import metrics
from wangge.edge.alerts import AlertComposer
from wangge.edge.credentials import EdgeToken
from wangge.edge.video.capture import CameraCapture, CameraHealth, RateWindow
from wangge.edge.video.config import CameraConfig, LineRuleConfig, TamperConfig, VideoConfig, VideoRuleBase
from wangge.edge.video.detector import Detector, build_detector
from wangge.edge.video.evidence import Geometry, SnapshotSpool, render
from wangge.edge.video.live import LiveStreams
from wangge.edge.video.recorder_service import RecordingService
from wangge.models.manifests import ModelError

log = logging.getLogger(__name__)

OFFLINE_RULE = "camera_offline"


Wording = VideoRuleBase | TamperConfig  # what an alert needs from its rule: id, category, severity, title


def rule_geometry(rule: Wording) -> Geometry:
    if isinstance(rule, LineRuleConfig):
        return {"lines": [[list(rule.a), list(rule.b)]]}
    polygon = getattr(rule, "polygon", None)
    return {"zones": [[list(p) for p in polygon]]} if polygon else {}


class VideoAlerts:
    """Video events as alert events on the wire: start/update/end for what lasts, start+end for a crossing."""

    def __init__(self, edge_id: str, composer: AlertComposer, spool: SnapshotSpool) -> None:
        self._edge_id = edge_id
        self._composer = composer
        self._spool = spool
        self._best: dict[str, float] = {}

    def _open(self, camera: str, rule_id: str, category: str, severity: str, title: str, at: float) -> dict[str, Any]:
        return {
            "v": alert_format.SCHEMA_VERSION,
            "alert_id": str(uuid.uuid4()),
            "edge_id": self._edge_id,
            "source": {"kind": "camera", "device_id": camera},
            "rule_id": rule_id,
            "category": category,
            "severity": severity,
            "title": title[:500],
            "started_at": alert_format.iso(at),
        }

    def _start(
        self, key: tuple[str, str], base: dict[str, Any], attributes: dict[str, Any], lasting: bool = True
    ) -> dict[str, Any] | None:
        message = {**base, "seq": 0, "event": "start", "at": base["started_at"], "attributes": attributes}
        return self._composer.write(message, key, {**base, "seq": 0} if lasting else None)

    def _next(
        self, key: tuple[str, str], state: dict[str, Any], kind: str, at: str, attributes: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The next event of an open alert (`state` is what the composer keeps of it); an end closes it."""
        seq = state["seq"] + 1
        message = {**state, "seq": seq, "event": kind, "at": at}
        if attributes is not None:
            message["attributes"] = attributes
        if kind == "end":
            message["ended_at"] = at
        return self._composer.write(message, key, None if kind == "end" else {**state, "seq": seq})

    def event(self, camera: CameraConfig, rule: Wording, event: VideoEvent, frame: Frame) -> None:
        # One open alert per condition: a rule holding several at once (two loiterers) names each one.
        key = (f"{rule.id}#{event.instance}" if event.instance else rule.id, camera.id)
        geometry = rule_geometry(rule)
        attributes: dict[str, Any] = {
            "track_ids": list(event.track_ids),
            "classes": list(event.labels),
            "score": round(event.score, 3),
            "geometry": {**geometry, "boxes": [[round(v, 4) for v in b] for b in event.boxes]},
            **{k: v for k, v in event.detail.items() if isinstance(v, int | float | str | dict)},
        }
        at = alert_format.iso(event.at)
        if event.kind in ("start", "instant"):
            title = rule.title or f"{camera.name or camera.id}: {rule.id}"
            base = self._open(camera.id, rule.id, rule.category, rule.severity, title, event.at)
            if self._start(key, base, attributes, lasting=event.kind == "start") is None:
                return
            self._snapshot(camera, base["alert_id"], event, frame, geometry)
            if event.kind == "instant":  # a crossing: its end at once, under a key of its own
                self._next((f"{rule.id}#{base['alert_id']}", camera.id), {**base, "seq": 0}, "end", at, attributes)
            return
        state = self._composer.active(key)
        if state is None:
            return
        if event.kind == "end":
            self._best.pop(state["alert_id"], None)
        self._next(key, state, event.kind, at, attributes)
        if event.kind == "update" and event.score > self._best.get(state["alert_id"], 0.0):
            self._snapshot(camera, state["alert_id"], event, frame, geometry)

    def _snapshot(
        self, camera: CameraConfig, alert_id: str, event: VideoEvent, frame: Frame, geometry: Geometry
    ) -> None:
        try:
            jpeg = render(frame, event, geometry, camera.blur_faces)
        except (ValueError, OSError) as exc:
            log.error("camera %s: snapshot for %s not made: %s", camera.id, alert_id, exc)
            return
        self._best[alert_id] = event.score
        self._spool.put(alert_id, jpeg, {"camera": camera.id, "rule_id": event.rule_id, "at": event.at})
        metrics.SNAPSHOTS.inc()

    def close_stale(self, cameras: list[CameraConfig], at: float) -> int:
        """Alerts a previous run left open (the tracks behind them are gone): ended now, so no ticket waits forever.
        camera_offline is left alone; the camera's first health check decides it."""
        ids = {c.id for c in cameras}
        closed = 0
        for rule_id, device in self._composer.active_keys:
            state = self._composer.active((rule_id, device))
            if device in ids and rule_id != OFFLINE_RULE and state and state["source"]["kind"] == "camera":
                ended = self._next((rule_id, device), state, "end", alert_format.iso(at), {"reason": "edge restarted"})
                closed += ended is not None
        return closed

    def offline(self, camera: CameraConfig, health: CameraHealth, at: float) -> None:
        key = (OFFLINE_RULE, camera.id)
        active = self._composer.active(key)
        if health.state == "offline" and active is None:
            title = f"摄像头离线 Camera {camera.name or camera.id} offline"
            base = self._open(camera.id, OFFLINE_RULE, "devices.camera_offline", camera.offline_severity, title, at)
            self._start(key, base, {"error": health.error or "no frames", "reconnects": health.reconnects})
        elif health.state != "offline" and active is not None:
            self._next(key, active, "end", alert_format.iso(at), None)


class CameraWorker:
    def __init__(
        self,
        camera: CameraConfig,
        detector: Detector | None,
        alerts: VideoAlerts,
        on_alert: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        retry_s: float = 30.0,
    ) -> None:
        self.camera = camera
        self.detector = detector
        self.alerts = alerts
        self.on_alert = on_alert
        self.clock = clock
        self.retry_s = retry_s
        size = (camera.detect.width, camera.detect.height) if camera.detect.width and camera.detect.height else None
        self.capture = CameraCapture(camera.id, camera.url, size, camera.detect.fps, realtime=camera.realtime)
        labels = detector.labels if detector is not None else []
        wanted = frozenset(c for rule in camera.rules for c in rule.classes)  # track only what a rule looks at
        self.analyzer = CameraAnalyzer(
            labels, camera.build_rules(), fps=camera.detect.fps, classes=wanted, motion_gating=camera.motion_gating
        )
        self.analyzer.motion.settings = camera.motion_settings()
        self._rules: dict[str, Wording] = {r.id: r for r in camera.rules}
        self.tamper = TamperDetector(camera.tamper.settings()) if camera.tamper.enabled else None
        if self.tamper is not None:
            self._rules[camera.tamper.id] = camera.tamper
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera.id}", daemon=True)
        self._down_until = 0.0 if detector is not None else float("inf")
        self.capture.degraded = detector is None
        self.processed = 0
        self._processed = RateWindow()

    def start(self) -> None:
        self.capture.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.capture.stop()
        self._thread.join(10)

    def processed_fps(self) -> float:
        return self._processed.rate(time.monotonic())

    def health(self) -> CameraHealth:
        return self.capture.health(self.camera.offline_after_s)

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            item = self.capture.latest(seq, 0.5)
            now = self.clock()
            self.alerts.offline(self.camera, self.health(), now)
            if item is None:
                continue
            seq, frame, _ = item
            try:
                result = self._analyse(frame, now)
            except Exception:
                log.exception("camera %s: analysis failed on one frame", self.camera.id)
                continue
            if self.tamper is not None:
                for event in self.tamper.observe(now, frame, self.analyzer.motion.last_grey):
                    result.events.append(replace(event, rule_id=self.camera.tamper.id))
            self.processed += 1
            self._processed.add(time.monotonic())
            for event in result.events:
                rule = self._rules.get(event.rule_id)
                if rule is not None:
                    self.alerts.event(self.camera, rule, event, frame)
                    self.on_alert()

    def _detect(self, frame: Frame) -> sv.Detections:
        assert self.detector is not None
        started = time.perf_counter()
        result = self.detector.detect([frame])[0]
        metrics.INFERENCE_SECONDS.observe(time.perf_counter() - started)
        return result

    def _analyse(self, frame: Frame, at: float) -> FrameResult:
        if self.detector is None or time.monotonic() < self._down_until:
            return self.analyzer.process_motion_only(frame, at)
        try:
            result = self.analyzer.process(frame, at, self._detect)
        except Exception as exc:
            self._down_until = time.monotonic() + self.retry_s
            self.capture.degraded = True
            metrics.DETECTOR_FAILURES.inc()
            log.error("camera %s: the detector failed (%s); motion-only for %.0fs", self.camera.id, exc, self.retry_s)
            return self.analyzer.process_motion_only(frame, at)
        if self.capture.degraded:
            log.info("camera %s: the detector works again", self.camera.id)
        self.capture.degraded = False
        return result


class VideoService:
    def __init__(
        self,
        edge_id: str,
        video: VideoConfig,
        cameras: list[CameraConfig],
        composer: AlertComposer,
        data_dir: Path,
        on_alert: Callable[[], None] = lambda: None,
        linked: dict[str, list[str]] | None = None,
    ) -> None:
        self.model_error: str | None = None
        detector: Detector | None = None
        if cameras:
            # Every camera already analyses on threads of its own; OpenCV splitting each small resize or blur over
            # a pool of its own as well only added wake-ups: 12 quiet + 4 busy cameras took about 5 % less CPU with
            # one (bench/video_pipeline.py, docs/benchmarks.md).
            cv2.setNumThreads(1)
            try:
                detector = build_detector(
                    video.model, video.model_dir, video.threads, video.min_score, video.input_long_side
                )
            except ModelError as exc:
                self.model_error = str(exc)
                log.error("%s: cameras run on motion only until the model is fixed", exc)
        token = None
        upload = video.snapshot_upload
        if upload is not None:
            token = EdgeToken(upload.token_file, upload.gateway_url, edge_id, upload.rotate_before)
        self.spool = SnapshotSpool(
            video.snapshot_dir or data_dir / "snapshots", edge_id, upload.gateway_url if upload else None, token
        )
        self.recording = RecordingService(edge_id, video, cameras, data_dir, token, linked or {})
        self.live = LiveStreams(
            edge_id,
            {c.id: c.url for c in cameras},
            upload.gateway_url if upload else None,
            token,
            video.live_max_sessions,
        )
        composer.observers.append(self.recording.jobs.observe)
        alerts = VideoAlerts(edge_id, composer, self.spool)
        if cameras and (closed := alerts.close_stale(cameras, time.time())):
            log.info("ended %d video alerts left open by the previous run", closed)
        self.detector = detector
        self.workers = [CameraWorker(c, detector, alerts, on_alert) for c in cameras]

    def start(self) -> None:
        self.spool.start()
        self.recording.start()
        self.live.start()
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.live.stop()
        self.recording.stop()
        self.spool.stop()

    def status(self) -> dict[str, dict[str, Any]]:
        """Per camera, for the edge's retained status and /metrics."""
        out = {}
        for worker in self.workers:
            h = worker.health()
            fps = worker.processed_fps()
            for state in ("online", "degraded", "offline"):
                metrics.CAMERA_STATE.labels(worker.camera.id, state).set(1 if h.state == state else 0)
            metrics.CAMERA_INPUT_FPS.labels(worker.camera.id).set(h.input_fps)
            metrics.CAMERA_PROCESSED_FPS.labels(worker.camera.id).set(fps)
            metrics.CAMERA_SKIPPED.labels(worker.camera.id).set(h.skipped)
            metrics.CAMERA_RECONNECTS.labels(worker.camera.id).set(h.reconnects)
            if h.last_frame_age_s is not None:
                metrics.CAMERA_FRAME_AGE.labels(worker.camera.id).set(h.last_frame_age_s)
            out[worker.camera.id] = {
                "kind": "camera",
                "state": h.state,
                "fps": round(h.input_fps, 2),
                "processed_fps": round(fps, 2),
                "skipped": h.skipped,
                "reconnects": h.reconnects,
                "last_frame_age_s": None if h.last_frame_age_s is None else round(h.last_frame_age_s, 2),
                "last_seen": None if h.last_frame_age_s is None else alert_format.iso(time.time() - h.last_frame_age_s),
                "error": h.error or self.model_error,
                "resolution": f"{h.width}x{h.height}" if h.width else None,
                **self.recording.health(worker.camera.id),
            }
        return out
