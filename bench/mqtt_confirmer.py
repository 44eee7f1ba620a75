"""The MQTT floor for bench/alert_ingest.py: a bare confirmer in the gateway's place, no database, no checks.

It subscribes like a gateway replica (the shared group, QoS 1, manual acknowledgement), takes what has arrived
(up to the gateway's batch size), publishes one confirmation per edge naming each event's `alert_id:seq`, and
acknowledges — the publish → subscriber → confirm publish round trip every stored alert makes, and nothing else.
For the paced edge's events it keeps arrival − emitted_at and prints the percentiles when it is stopped.

  python bench/mqtt_confirmer.py mqtt://127.0.0.1:1883 bench-confirmer [--batch-max 500]
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as paho  # noqa: E402

from wangge import alert_format  # noqa: E402
from wangge.mqtt import make_client, parse_broker_url  # noqa: E402

PACED_EDGE = "bench-paced"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("broker")
    parser.add_argument("client_id")
    parser.add_argument("--batch-max", type=int, default=500)
    args = parser.parse_args()
    broker = parse_broker_url(args.broker)
    arrived: queue.Queue[paho.MQTTMessage] = queue.Queue()
    client = make_client(broker, args.client_id, clean_session=True, manual_ack=True)
    client.max_inflight_messages_set(1000)

    def on_connect(c: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        c.subscribe("$share/gateway/wangge/edge/+/alerts", qos=1)
        print("subscribed", flush=True)

    client.on_connect = on_connect
    delays_ms: list[float] = []

    def on_message(c: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        arrived.put(message)
        if message.topic == f"wangge/edge/{PACED_EDGE}/alerts":
            emitted = alert_format.instant(json.loads(message.payload)["emitted_at"]).timestamp()
            delays_ms.append((time.time() - emitted) * 1000)

    client.on_message = on_message
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        try:
            batch = [arrived.get(timeout=0.2)]
        except queue.Empty:
            continue
        while len(batch) < args.batch_max:
            try:
                batch.append(arrived.get_nowait())
            except queue.Empty:
                break
        stored: dict[str, list[str]] = {}
        for message in batch:
            body = json.loads(message.payload)
            stored.setdefault(body["edge_id"], []).append(f"{body['alert_id']}:{body['seq']}")
        for edge_id, keys in stored.items():
            payload = json.dumps({"stored": keys, "refused": []}, separators=(",", ":"))
            client.publish(f"wangge/edge/{edge_id}/confirms", payload, qos=1)
        for message in batch:
            client.ack(message.mid, message.qos)
    client.disconnect()
    client.loop_stop()
    delays_ms.sort()
    if delays_ms:
        p50, p99 = delays_ms[len(delays_ms) // 2], delays_ms[min(len(delays_ms) - 1, int(len(delays_ms) * 0.99))]
        print(f"latency {p50:.3f} {p99:.3f}", flush=True)


if __name__ == "__main__":
    main()
