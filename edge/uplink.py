"""Sends outbox events to the central broker at QoS 1 and keeps each until the gateway confirms storing it.

A broker's PUBACK only says the broker has the message. Mosquitto 2.0 forgets shared subscriptions
when it restarts, and any broker drops QoS 1 messages when no subscriber matches or a queue overflows,
so the outbox keeps an event until the gateway says it committed it (`wangge/edge/<id>/confirms`).
A PUBACK frees a slot in the bounded in-flight window; an event PUBACKed but not confirmed is sent
again with a growing delay, and the gateway drops the copies it already has.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from wangge import alert_format
from wangge.edge import metrics
from wangge.edge.alerts import commands_topic, confirms_topic, status_topic
from wangge.edge.outbox import Outbox
from wangge.mqtt import BrokerAddress, make_client

log = logging.getLogger(__name__)


def status_payload(edge_id: str, state: str, **extra: Any) -> bytes:
    body = {"edge_id": edge_id, "state": state, "at": alert_format.iso(time.time()), **extra}
    return json.dumps(body, separators=(",", ":")).encode()


def resend_delay(attempt: int, first_s: float) -> float:
    """Wait before sending an unconfirmed event again: first_s, doubling, at most 10 minutes."""
    return float(min(first_s * 2 ** (attempt - 1), 600.0))


class Uplink:
    def __init__(
        self,
        edge_id: str,
        outbox: Outbox,
        broker: BrokerAddress,
        client_id: str,
        max_inflight: int = 100,
        keepalive_s: int = 30,
        status_extra: Callable[[], dict[str, Any]] = dict,
        status_interval_s: float = 15.0,
        confirm_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._edge_id = edge_id
        # Commands from the gateway (live view); set before start. Called on paho's thread with the raw payload.
        self.on_command: Callable[[bytes], None] | None = None
        self._outbox = outbox
        self._broker = broker
        self._window = max_inflight
        self._keepalive = keepalive_s
        self._status_extra = status_extra
        self._status_interval = status_interval_s
        self._confirm_timeout = confirm_timeout_s
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        # Filled by paho's network thread, drained by the uplink thread (deque appends are atomic).
        self._pubacks: deque[int] = deque()
        self._confirms: deque[tuple[str, bool]] = deque()
        # Owned by the uplink thread only.
        self._inflight: dict[int, int] = {}  # mid -> outbox row id, awaiting PUBACK
        self._unconfirmed: dict[int, float] = {}  # row id -> when to send it again
        self._attempts: dict[int, int] = {}
        self._last_id = 0
        self._next_status = 0.0
        self.sent = 0
        client = make_client(broker, client_id, clean_session=True)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(max_inflight * 2 + 10)
        client.will_set(status_topic(edge_id), status_payload(edge_id, "offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.message_callback_add(confirms_topic(edge_id), self._on_confirm)
        client.message_callback_add(commands_topic(edge_id), self._on_command)
        self._client = client
        self._thread = threading.Thread(target=self._run, name=f"uplink-{edge_id}", daemon=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._keepalive)
        self._client.loop_start()
        self._thread.start()

    def wake(self) -> None:
        """Called after an outbox append so the event goes out without waiting for the poll."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish the offline status and stop; whatever is unconfirmed stays in the outbox."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._connected.is_set():
            info = self._client.publish(
                status_topic(self._edge_id), status_payload(self._edge_id, "offline"), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    # paho's network thread -------------------------------------------------------------------
    def _on_command(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self.on_command is not None:
            try:
                self.on_command(bytes(message.payload))
            except Exception:
                log.exception("a command from the gateway failed")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("uplink to %s:%s refused: %s", self._broker.host, self._broker.port, reason)
            return
        client.subscribe(confirms_topic(self._edge_id), qos=1)
        client.subscribe(commands_topic(self._edge_id), qos=1)
        log.info("uplink connected to %s:%s", self._broker.host, self._broker.port)
        self._next_status = 0.0
        self._connected.set()
        metrics.UPLINK_CONNECTED.set(1)
        self._wake.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._connected.is_set():
            log.warning("uplink disconnected: %s", reason)
        self._connected.clear()
        metrics.UPLINK_CONNECTED.set(0)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._pubacks.append(mid)
        self._wake.set()

    def _on_confirm(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
            stored = [str(k) for k in body.get("stored", [])]
            refused = [str(k) for k in body.get("refused", [])]
        except (ValueError, AttributeError, TypeError):
            log.warning("ignored a malformed confirmation on %s", message.topic)
            return
        self._confirms.extend((k, True) for k in stored)
        self._confirms.extend((k, False) for k in refused)
        self._wake.set()

    # the uplink thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self._settle()
                if self._connected.is_set():
                    self._fill_window()
                    self._heartbeat()
            except Exception:
                log.exception("uplink step failed; retrying")
                time.sleep(1.0)

    def _settle(self) -> None:
        now = self._clock()
        while self._pubacks:
            row_id = self._inflight.pop(self._pubacks.popleft(), None)
            if row_id is not None:
                attempt = self._attempts.get(row_id, 1)
                self._unconfirmed[row_id] = now + resend_delay(attempt, self._confirm_timeout)
        keys: list[str] = []
        while self._confirms:
            key, stored = self._confirms.popleft()
            keys.append(key)
            if not stored:
                metrics.ALERTS_REFUSED.inc()
                log.error("the gateway refused alert event %s (see its dead letters); dropped here", key)
        if keys:
            removed = self._outbox.delete_keys(keys)
            for row_id in removed:
                self._unconfirmed.pop(row_id, None)
                self._attempts.pop(row_id, None)
            self.sent += len(removed)
            metrics.ALERTS_SENT.inc(len(removed))
            metrics.OUTBOX_DEPTH.set(self._outbox.depth)

    def _publish(self, row_id: int, topic: str, payload: bytes) -> bool:
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            log.warning("publish of outbox row %s refused locally (rc=%s); will retry", row_id, info.rc)
            return False
        self._inflight[info.mid] = row_id
        self._attempts[row_id] = self._attempts.get(row_id, 0) + 1
        return True

    def _fill_window(self) -> None:
        room = self._window - len(self._inflight)
        if room <= 0:
            return
        now = self._clock()
        due = sorted(row_id for row_id, at in self._unconfirmed.items() if at <= now)[:room]
        if due:
            still_there = self._outbox.fetch_ids(due)
            for row_id in due:
                self._unconfirmed.pop(row_id, None)
            for row in still_there:
                if not self._publish(row.id, row.topic, row.payload):
                    return
                metrics.ALERTS_RESENT.inc()
            room -= len(still_there)
        if room <= 0:
            return
        for row in self._outbox.fetch_after(self._last_id, room):
            if not self._publish(row.id, row.topic, row.payload):
                return
            self._last_id = row.id

    def _heartbeat(self) -> None:
        """The retained online status, repeated with the edge's counters so the gateway can export them."""
        now = self._clock()
        if now < self._next_status:
            return
        self._next_status = now + self._status_interval
        extra = {"alerts_sent": self.sent, "outbox_depth": self._outbox.depth, **self._status_extra()}
        self._client.publish(
            status_topic(self._edge_id), status_payload(self._edge_id, "online", **extra), qos=1, retain=True
        )
