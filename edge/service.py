"""Wires one edge box together from its config, and runs it until told to stop."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from wangge.collector import freeze_start_up
from wangge.edge import metrics
from wangge.edge.config import EdgeConfig
from wangge.edge.outbox import Outbox
from wangge.edge.sensors import SensorIngest
from wangge.edge.uplink import Uplink
from wangge.edge.video.pipeline import VideoService
from wangge.health_http import serve_health
from wangge.mqtt import parse_broker_url

log = logging.getLogger(__name__)


class EdgeService:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.outbox = Outbox(config.data_dir / "outbox.sqlite3")
        metrics.OUTBOX_DEPTH.set(self.outbox.depth)
        uplink_id = config.uplink.client_id or f"wangge-edge-{config.edge_id}-uplink"
        self.uplink = Uplink(
            config.edge_id,
            self.outbox,
            parse_broker_url(config.uplink.broker),
            uplink_id,
            config.uplink.max_inflight,
            config.uplink.keepalive_s,
            status_extra=self._status_extra,
            confirm_timeout_s=config.uplink.confirm_timeout_s,
        )
        self.sensors = SensorIngest.from_config(
            config,
            self.outbox,
            f"wangge-edge-{config.edge_id}-sensors-{socket.gethostname()}"[:128],
            on_alert=self.uplink.wake,
        )
        self.video = VideoService(
            config.edge_id,
            config.video,
            config.cameras,
            self.sensors.composer,
            config.data_dir,
            self.uplink.wake,
            config.linked_cameras(),
        )
        self.uplink.on_command = self.video.live.handle
        self._http: ThreadingHTTPServer | None = None

    def _status_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"readings": self.sensors.readings}
        if self.video.workers:
            extra["devices"] = self.video.status()
        return extra

    def health(self) -> dict[str, Any]:
        uplink, sensors = self.uplink.connected, self.sensors.connected.is_set()
        return {
            "ok": sensors,
            "edge_id": self.config.edge_id,
            "uplink_connected": uplink,
            "sensor_broker_connected": sensors,
            "outbox_depth": self.outbox.depth,
            "cameras": self.video.status(),
        }

    def start(self) -> None:
        self.uplink.start()
        self.sensors.start()
        self.video.start()
        if self.config.http:
            self._http = serve_health(self.config.http, self.health)
        log.info(
            "edge %s started: %d sensor mappings, %d rules, %d declared devices, %d events waiting in the outbox",
            self.config.edge_id,
            len(self.config.sensors),
            len(self.config.rules),
            len(self.config.devices),
            self.outbox.depth,
        )

    def stop(self) -> None:
        self.video.stop()
        self.sensors.stop()
        self.uplink.stop()
        if self._http is not None:
            self._http.shutdown()
        self.outbox.close()


def run_edge(config: EdgeConfig) -> None:
    """Run until SIGINT or SIGTERM."""
    service = EdgeService(config)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    service.start()
    log.info("edge %s: %d start-up objects kept out of the garbage collector", config.edge_id, freeze_start_up())
    done.wait()
    log.info("edge %s stopping", config.edge_id)
    service.stop()
