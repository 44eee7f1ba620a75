"""Sensor readings per second: through the rule engine alone, and end to end from a real Mosquitto.

1. engine: readings from 1,000 devices of a mix of profiles (water gauges, smoke, gas, manhole covers,
   cabinet temperature with the anomaly detector, access doors, temperature/humidity) through
   RuleEngine.admit + feed, on one core, no I/O. Goal: >= 100,000 readings/s.
2. end to end: the same devices publish JSON to Mosquitto (QoS 1); the edge's SensorIngest (paho, parse,
   order check, rules, outbox for the alerts that fire) takes them. The floor is a bare paho subscriber on
   the same broker with the same publisher, counting messages and doing nothing else. Both end-to-end
   figures are messages/s (a message carries 1-2 readings), so e2e_rps / floor_rps is the edge's cost.

  python bench/sensor_pipeline.py [--readings 300000] [--messages 60000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import Mosquitto  # noqa: E402
from wangge.detectors.readings import Reading  # noqa: E402
from wangge.edge.config import EdgeConfig  # noqa: E402
from wangge.edge.ruleset import build_engine  # noqa: E402
from wangge.edge.service import EdgeService  # noqa: E402
from wangge.mqtt import make_client, parse_broker_url  # noqa: E402

# profile -> (metric, typical value, noise) of each reading a device of that kind sends
MIX: dict[str, list[tuple[str, float, float]]] = {
    "water_level": [("water_level", 5.0, 1.0), ("battery", 80.0, 0.1)],
    "smoke_detector": [("smoke", 0.0, 0.0)],
    "gas_detector": [("gas_lel", 1.0, 0.5)],
    "manhole_cover": [("cover_tilt", 2.0, 1.0)],
    "cabinet_temperature": [("cabinet_temp", 35.0, 1.5)],
    "access_door": [("door_forced", 0.0, 0.0), ("door_open", 0.0, 0.0)],
    "temperature_humidity": [("temperature", 21.0, 0.5), ("humidity", 55.0, 3.0)],
}


def devices(n: int) -> list[tuple[str, str]]:
    kinds = sorted(MIX)
    return [(f"{kinds[i % len(kinds)]}-{i}", kinds[i % len(kinds)]) for i in range(n)]


def config(url: str, data_dir: Path) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "edge_id": "bench-estate",
            "sensor_broker": url,
            "uplink": {"broker": url},
            "data_dir": str(data_dir),
            "sensors": [
                {"topic": f"estate/{kind}/+device", "device": "{device}", "format": "auto", "profile": kind}
                for kind in MIX
            ],
        }
    )


def value(rng: random.Random, typical: float, noise: float, i: int) -> float:
    if i % 5000 == 4999:  # now and then something happens
        return typical + 40.0 if noise else 1.0
    return round(typical + rng.gauss(0, noise), 2) if noise else typical


def engine_rate(n_devices: int, readings: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(config("mqtt://127.0.0.1:1", Path(tmp)))
    fleet = devices(n_devices)
    for device, kind in fleet:
        engine.assign(device, kind, 0.0)
    rng = random.Random(1)
    batch: list[Reading] = []
    i = 0
    while len(batch) < readings:
        device, kind = fleet[i % n_devices]
        ts = 10.0 * (i // n_devices)
        for metric, typical, noise in MIX[kind]:
            batch.append(Reading(device, metric, value(rng, typical, noise, i), ts))
        i += 1
    events = 0
    started = time.perf_counter()
    for reading in batch:
        if engine.admit(reading) is None:
            events += len(engine.feed(reading))
    return len(batch) / (time.perf_counter() - started), events


def payloads(n_devices: int, messages: int) -> list[tuple[str, bytes, int]]:
    """(topic, payload, readings in it) for `messages` messages, round-robin over the fleet."""
    rng = random.Random(2)
    fleet = devices(n_devices)
    out = []
    for i in range(messages):
        device, kind = fleet[i % n_devices]
        body: dict[str, Any] = {m: value(rng, t, s, i) for m, t, s in MIX[kind]}
        out.append((f"estate/{kind}/{device}", json.dumps(body).encode(), len(body)))
    return out


def publish_all(url: str, messages: list[tuple[str, bytes, int]]) -> None:
    address = parse_broker_url(url)
    pub = make_client(address, f"bench-sensors-{time.time_ns()}")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect(address.host, address.port)
    pub.loop_start()
    infos = [pub.publish(topic, payload, qos=1) for topic, payload, _ in messages]
    for info in infos:
        info.wait_for_publish(300)
    pub.disconnect()
    pub.loop_stop()


def floor_rate(url: str, messages: list[tuple[str, bytes, int]]) -> float:
    address = parse_broker_url(url)
    got = 0
    done = threading.Event()

    def on_message(*_: object) -> None:
        nonlocal got
        got += 1
        if got == len(messages):
            done.set()

    sub = make_client(address, f"bench-floor-{time.time_ns()}")
    sub.on_message = on_message
    sub.connect(address.host, address.port)
    sub.subscribe("estate/#", qos=1)
    sub.loop_start()
    time.sleep(0.5)
    started = time.perf_counter()
    publish_all(url, messages)
    if not done.wait(300):
        raise SystemExit(f"floor: only {got} of {len(messages)} messages arrived")
    elapsed = time.perf_counter() - started
    sub.disconnect()
    sub.loop_stop()
    return len(messages) / elapsed


def e2e_rate(url: str, messages: list[tuple[str, bytes, int]], data_dir: Path) -> tuple[float, float, int]:
    service = EdgeService(config(url, data_dir))
    service.start()
    deadline = time.monotonic() + 10
    while not service.sensors.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    expected = sum(n for _, _, n in messages)
    started = time.perf_counter()
    publish_all(url, messages)
    deadline = time.monotonic() + 300
    while service.sensors.readings < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    got, alerts = service.sensors.readings, service.outbox.depth
    service.stop()
    if got != expected:
        raise SystemExit(f"end to end: only {got} of {expected} readings were taken")
    return len(messages) / elapsed, expected / elapsed, alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=300_000)
    parser.add_argument("--messages", type=int, default=60_000)
    args = parser.parse_args()

    engine_rps, events = engine_rate(args.devices, args.readings)
    print(f"rule engine alone: {engine_rps:,.0f} readings/s on one core ({events} alert transitions)")
    messages = payloads(args.devices, args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            floor = floor_rate(broker.url, messages)
            e2e_msgs, e2e_readings, alerts = e2e_rate(broker.url, messages, Path(tmp) / "edge")
        finally:
            broker.stop()
    print(f"bare subscriber (floor): {floor:,.0f} messages/s")
    print(
        f"edge end to end: {e2e_msgs:,.0f} messages/s = {e2e_readings:,.0f} readings/s, "
        f"{alerts} alert events in the outbox; {e2e_msgs / floor:.2f} x the floor"
    )
    print(
        f"engine_rps={engine_rps:.0f} e2e_rps={e2e_msgs:.0f} floor_rps={floor:.0f} "
        f"e2e_readings_per_s={e2e_readings:.0f} floor_ratio={e2e_msgs / floor:.2f} devices={args.devices}"
    )


if __name__ == "__main__":
    main()
