"""The edge's sensor path without a broker: SensorIngest.handle / tick with a hand-moved clock, a real outbox."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from wangge.edge.config import EdgeConfig
from wangge.edge.outbox import Outbox
from wangge.edge.sensors import SensorIngest


def edge_config(**sections: Any) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {"edge_id": "estate-1", "sensor_broker": "mqtt://127.0.0.1:1", "uplink": {"broker": "mqtt://127.0.0.1:1"}}
        | sections
    )


class Harness:
    """One edge's sensors → rules → outbox, restartable on the same outbox file (a reboot)."""

    def __init__(self, config: EdgeConfig, data: Path, start: float = 1_800_000_000.0) -> None:
        self.config = config
        self.data = data
        self.now = start
        self.boot()

    def boot(self) -> None:
        self.outbox = Outbox(self.data / "outbox.sqlite3")
        self.ingest = SensorIngest.from_config(
            self.config, self.outbox, f"harness-{time.monotonic_ns()}", on_alert=lambda: None, clock=lambda: self.now
        )

    def reboot(self) -> None:
        self.outbox.close()
        self.boot()

    def send(self, at: float, topic: str, payload: bytes | str | dict[str, Any]) -> int:
        self.now = at
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        produced = self.ingest.handle(topic, payload)
        self.ingest.tick(at)
        return produced

    def tick(self, at: float) -> int:
        self.now = at
        return self.ingest.tick(at)

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(r.payload) for r in self.outbox.fetch_after(0, 100_000)]

    def story(self) -> list[tuple[str, str, str, str]]:
        """(rule_id, device, event, severity) of every alert event, in order."""
        return [(a["rule_id"], a["source"]["device_id"], a["event"], a["severity"]) for a in self.alerts()]
