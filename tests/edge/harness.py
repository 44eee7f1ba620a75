"""The edge's sensor path without a broker: SensorIngest.handle / tick with a hand-moved clock, a real outbox."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from wangge.edge.alerts import AlertComposer
from wangge.edge.config import EdgeConfig
from wangge.edge.outbox import Outbox
from wangge.edge.payloads import ReadingParser
from wangge.edge.ruleset import build_engine, declared_profiles, top_level_metas
from wangge.edge.sensors import SensorIngest
from wangge.mqtt import parse_broker_url


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
        engine = build_engine(self.config)
        for device, profile in declared_profiles(self.config).items():
            engine.assign(device, profile, self.now)
        composer = AlertComposer(self.config.edge_id, top_level_metas(self.config), self.outbox, lambda: self.now)
        engine.restore_active(composer.active_keys)
        self.ingest = SensorIngest(
            ReadingParser(
                self.config.sensors,
                self.config.max_payload_bytes,
                self.config.availability,
                {n: {m: s.unit for m, s in p.metrics.items()} for n, p in self.config.all_profiles().items()},
            ),
            engine,
            composer,
            parse_broker_url("mqtt://127.0.0.1:1"),
            f"harness-{time.monotonic_ns()}",
            on_alert=lambda: None,
            clock=lambda: self.now,
            max_clock_skew_s=self.config.max_clock_skew_s,
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
