"""Simulated estate sensors for the demo: a storm floods the underpass within the first minute.

The scenario repeats every `period_s`: water rises from t=10 s past 20 cm at about t=25 s, peaks near
45 cm and recedes below 15 cm by about t=200 s; a manhole cover is knocked open at t=70 s for a
minute; an elevator fault contact closes at t=100 s for 45 s.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time

from wangge import alert_format
from wangge.mqtt import BrokerAddress, make_client

ESTATE = "demo-estate"


def water_level_cm(t: float) -> float:
    """Depth over the scenario: dry, storm rise, plateau, recession."""
    if t < 10:
        return 2.0
    if t < 45:
        return 2.0 + 43.0 * (t - 10) / 35.0
    if t < 150:
        return 45.0 + 3.0 * math.sin(t / 7.0)
    if t < 210:
        return max(2.0, 45.0 - 43.0 * (t - 150) / 60.0)
    return 2.0


def cover_tilt_deg(t: float) -> float:
    return 35.0 if 70 <= t < 130 else 1.0


def elevator_fault(t: float) -> int:
    return 1 if 100 <= t < 145 else 0


class SensorSimulator:
    def __init__(self, broker: BrokerAddress, interval_s: float = 2.0, period_s: float = 300.0) -> None:
        self._interval = interval_s
        self._period = period_s
        self._rng = random.Random(7)
        self._stop = threading.Event()
        self._client = make_client(broker, f"wangge-demo-sensors-{int(time.time())}")
        self._broker = broker
        self._thread = threading.Thread(target=self._run, name="sensor-simulator", daemon=True)

    def start(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port)
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    def _run(self) -> None:
        start = time.time()
        battery = 87.0
        while not self._stop.wait(self._interval):
            now = time.time()
            t = (now - start) % self._period
            battery = max(5.0, battery - 0.001)
            noise = self._rng.gauss(0, 0.3)
            level = {
                "level_cm": round(max(0.0, water_level_cm(t) + noise), 1),
                "battery": round(battery, 1),
                "ts": alert_format.iso(now),
            }
            self._client.publish(f"estate/{ESTATE}/underpass/underpass-gauge-1/level", json.dumps(level), qos=1)
            self._client.publish(
                f"estate/{ESTATE}/manhole/manhole-07/state",
                json.dumps({"tilt_deg": round(cover_tilt_deg(t) + noise, 1)}),
                qos=1,
            )
            self._client.publish(f"estate/{ESTATE}/elevator/elevator-b2/fault", str(elevator_fault(t)), qos=1)
