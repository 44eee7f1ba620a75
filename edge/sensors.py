"""Subscribes to the estate broker and runs each sensor message through parse → rules → alerts.

Everything runs on paho's network thread: the rule engine is cheap and the outbox append is the
durability point, so a reading is only acknowledged to the broker after its alert event is on disk.
A second thread ticks the engine once a second (heartbeats running out, repeating conditions going quiet)
and, every `learnt_state_save_s`, saves what the anomaly detectors learnt to the outbox (also at stop);
at start the saved states are taken up again, so a restarted edge is not blind for a warm-up.

Time rules (docs/sensors.md): readings carry the payload's time when it has one, else arrival time; a
payload time more than `max_clock_skew_s` ahead of the edge clock is replaced by arrival time (counted as
`clock_skew`); per series, older readings are dropped (`out_of_order`) and an exact repeat of time and
value is dropped (`duplicate`). Liveness always uses arrival time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as paho

from wangge.detectors.readings import Reading
from wangge.detectors.rules import RuleEngine, RuleEvent
from wangge.edge import metrics
from wangge.edge.alerts import AlertComposer
from wangge.edge.config import EdgeConfig
from wangge.edge.outbox import Outbox
from wangge.edge.payloads import Parsed, PayloadError, ReadingParser
from wangge.edge.ruleset import build_engine, declared_profiles, top_level_metas
from wangge.edge.sparkplug import rebirth_request
from wangge.mqtt import BrokerAddress, make_client, parse_broker_url

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
        max_clock_skew_s: float = 300.0,
        tick_s: float = 1.0,
        outbox: Outbox | None = None,
        learnt_state_save_s: float = 300.0,
    ) -> None:
        self._parser = parser
        self._engine = engine
        self._composer = composer
        self._broker = broker
        self._on_alert = on_alert
        self._clock = clock
        self._skew = max_clock_skew_s
        self._tick_s = tick_s
        self._outbox = outbox
        self._save_s = learnt_state_save_s
        self._saved_at = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="sensor-rules-tick", daemon=True)
        self.readings = 0
        self.connected = threading.Event()
        client = make_client(broker, client_id, clean_session=False)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    @property
    def composer(self) -> AlertComposer:
        return self._composer

    @property
    def engine(self) -> RuleEngine:
        return self._engine

    @classmethod
    def from_config(
        cls,
        config: EdgeConfig,
        outbox: Outbox,
        client_id: str,
        on_alert: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> SensorIngest:
        """The whole sensor path of an edge: parser, rule engine (declared devices assigned, open alerts
        restored from the outbox) and alert composer."""
        engine = build_engine(config)
        now = clock()
        for device, profile in declared_profiles(config).items():
            engine.assign(device, profile, now)
        composer = AlertComposer(config.edge_id, top_level_metas(config), outbox, clock)
        engine.restore_active(composer.active_keys)
        _take_up_learnt(engine, outbox)
        units = {name: {m: spec.unit for m, spec in p.metrics.items()} for name, p in config.all_profiles().items()}
        return cls(
            ReadingParser(config.sensors, config.max_payload_bytes, config.availability, units),
            engine,
            composer,
            parse_broker_url(config.sensor_broker),
            client_id,
            on_alert,
            clock,
            config.max_clock_skew_s,
            outbox=outbox,
            learnt_state_save_s=config.learnt_state_save_s,
        )

    def start(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=30)
        self._client.loop_start()
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()
        if self._ticker.is_alive():
            self._ticker.join(5)
        self.save_learnt()

    def save_learnt(self, now: float | None = None) -> None:
        """Write every detector's state to the outbox (replacing the last save); a failure is logged and
        counted, and the next save tries again."""
        if self._outbox is None:
            return
        with self._lock:
            states = self._engine.learnt()
            self._saved_at = self._clock() if now is None else now
        try:
            self._outbox.save_learnt(states, self._saved_at)
        except Exception:
            metrics.LEARNT_SAVE_FAILURES.inc()
            log.exception("the anomaly detectors' states could not be saved; next try in %.0f s", self._save_s)
            return
        metrics.LEARNT_STATES.set(len(states))

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
        now = self._clock()
        try:
            parsed = self._parser.parse(topic, payload, now)
        except PayloadError as exc:
            metrics.READINGS_REJECTED.labels(exc.reason).inc()
            log.warning("rejected sensor message on %r: %s: %s", topic[:200], exc.reason, exc.detail)
            return 0
        except Exception:  # a parser bug must cost one message, never the ingest loop
            metrics.READINGS_REJECTED.labels("parser_error").inc()
            log.exception("sensor message on %r could not be parsed", topic[:200])
            return 0
        self._note(parsed, topic)
        events: list[RuleEvent] = []
        with self._lock:
            for message in parsed.messages:
                device = message.device_id
                if message.profile is not None and self._engine.profile_of(device) is None:
                    self._engine.assign(device, message.profile, now)
                if message.online is False:
                    events += self._engine.announce(device, False, now)
                else:
                    events += self._engine.seen(device, now)
                for reading in message.readings:
                    events += self._feed(reading, now)
            produced = self._compose(events, topic)
        if produced:
            self._on_alert()
        return produced

    def tick(self, now: float | None = None) -> int:
        """Let time pass for every rule, save the detectors when due; returns how many alert events that produced."""
        at = self._clock() if now is None else now
        with self._lock:
            produced = self._compose(self._engine.tick(at), "tick")
            metrics.DEVICES_KNOWN.set(len(self._engine.devices))
            metrics.DEVICES_OFFLINE.set(len(self._engine.offline_devices()))
            due = at - self._saved_at >= self._save_s
        if due:
            self.save_learnt(at)
        if produced:
            self._on_alert()
        return produced

    def _tick_loop(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("sensor rule tick failed; next tick in %.0f s", self._tick_s)

    def _feed(self, reading: Reading, now: float) -> list[RuleEvent]:
        if reading.ts > now + self._skew:
            metrics.READINGS_ADJUSTED.labels("clock_skew").inc()
            reading = Reading(reading.device_id, reading.metric, reading.value, now, reading.unit)
        dropped = self._engine.admit(reading)
        if dropped is not None:
            metrics.READINGS_REJECTED.labels(dropped).inc()
            return []
        self.readings += 1
        metrics.READINGS.labels(reading.metric).inc()
        return self._engine.feed(reading)

    def _compose(self, events: Iterable[RuleEvent], where: str) -> int:
        produced = 0
        for event in events:
            try:
                if self._composer.handle(event) is not None:
                    produced += 1
            except Exception:
                # The outbox could not be written (disk full?): say so loudly, keep ingesting.
                log.exception("alert for rule %s (%s) could not be stored", event.rule_id, where)
                metrics.READINGS_REJECTED.labels("outbox_error").inc()
        return produced

    def _note(self, parsed: Parsed, topic: str) -> None:
        if parsed.problem is not None:
            metrics.READINGS_REJECTED.labels(f"sparkplug_{parsed.problem.reason}").inc()
            log.warning("sensor message on %r: %s", topic[:200], parsed.problem.detail)
        if parsed.rebirth_topic is not None:
            metrics.SPARKPLUG_REBIRTHS.inc()
            self._client.publish(parsed.rebirth_topic, rebirth_request(int(self._clock() * 1000)), qos=0)
            log.info("asked for Sparkplug rebirth on %s", parsed.rebirth_topic)


def _take_up_learnt(engine: RuleEngine, outbox: Outbox) -> None:
    saved, unreadable = outbox.learnt_states()
    counts = engine.restore_learnt(saved)
    counts["unreadable"] = unreadable
    for reason, count in counts.items():
        if reason != "restored" and count:
            metrics.LEARNT_DROPPED.labels(reason).inc(count)
    dropped = {k: v for k, v in counts.items() if k != "restored" and v}
    if dropped:
        log.warning("saved anomaly detector states dropped at start: %s", dropped)
    if saved:
        log.info("%d anomaly detector states taken up from the outbox", counts["restored"])
