"""Subscribes to the estate broker and runs each sensor message through parse → rules → alerts.

Everything runs on paho's network thread: the rule engine is cheap and the outbox append is the
durability point, so a reading is only acknowledged to the broker after its alert event is on disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from wangge.detectors.rules import RuleEngine
from wangge.edge import metrics
from wangge.edge.alerts import AlertComposer
from wangge.edge.payloads import PayloadError, ReadingParser
from wangge.mqtt import BrokerAddress, make_client

log = logging.getLogger(__name__)


class SensorIngest:
    def __init__(
        self,
        parser: ReadingParser,
        engine: RuleEngine,
        composer: AlertComposer,
        broker: BrokerAddress,
        client_id: str,
        on_alert: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._parser = parser
        self._engine = engine
        self._composer = composer
        self._broker = broker
        self._on_alert = on_alert
        self._clock = clock
        self._lock = threading.Lock()
        self.readings = 0
        self.connected = threading.Event()
        client = make_client(broker, client_id, clean_session=False)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("sensor broker %s:%s refused: %s", self._broker.host, self._broker.port, reason)
            return
        subs = self._parser.subscriptions
        if subs:
            client.subscribe([(s, 1) for s in subs])
        log.info("sensor ingest connected to %s:%s, subscribed to %s", self._broker.host, self._broker.port, subs)
        self.connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        log.warning("sensor broker disconnected: %s", reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.handle(message.topic, bytes(message.payload))

    def handle(self, topic: str, payload: bytes) -> int:
        """Process one sensor message; returns how many alert events it produced."""
        try:
            readings = self._parser.parse(topic, payload, self._clock())
        except PayloadError as exc:
            metrics.READINGS_REJECTED.labels(exc.reason).inc()
            log.warning("rejected sensor message on %r: %s: %s", topic[:200], exc.reason, exc.detail)
            return 0
        produced = 0
        with self._lock:
            self.readings += len(readings)
            for reading in readings:
                metrics.READINGS.labels(reading.metric).inc()
                for event in self._engine.feed(reading):
                    try:
                        if self._composer.handle(event) is not None:
                            produced += 1
                    except Exception:
                        # The outbox could not be written (disk full?): say so loudly, keep ingesting.
                        log.exception("alert for rule %s on %s could not be stored", event.rule_id, topic)
                        metrics.READINGS_REJECTED.labels("outbox_error").inc()
        if produced:
            self._on_alert()
        return produced
