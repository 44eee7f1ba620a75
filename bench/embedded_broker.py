"""The demo's in-process broker (amqtt) against Mosquitto: QoS 1 messages/s from one paho publisher to one
paho subscriber, every message counted. Tells what `wangge demo` can carry, and why production uses Mosquitto.

  python bench/embedded_broker.py [--messages 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import Mosquitto, free_port  # noqa: E402
from wangge.demo.broker import DemoIdentities, EmbeddedBroker  # noqa: E402
from wangge.mqtt import make_client, parse_broker_url  # noqa: E402


def measure(url: str, messages: int) -> float:
    address = parse_broker_url(url)
    received = 0
    done = threading.Event()

    def on_message(*_: object) -> None:
        nonlocal received
        received += 1
        if received == messages:
            done.set()

    sub = make_client(address, f"bench-sub-{time.time_ns()}")
    sub.on_message = on_message
    sub.connect(address.host, address.port)
    sub.subscribe("bench/#", qos=1)
    sub.loop_start()
    pub = make_client(address, f"bench-pub-{time.time_ns()}")
    pub.max_inflight_messages_set(100)
    pub.max_queued_messages_set(0)
    pub.connect(address.host, address.port)
    pub.loop_start()
    time.sleep(0.5)
    started = time.perf_counter()
    infos = [pub.publish(f"bench/{i % 10}", b'{"level_cm": 23.5}', qos=1) for i in range(messages)]
    for info in infos:
        info.wait_for_publish(120)
    if not done.wait(120):
        raise SystemExit(f"only {received} of {messages} messages arrived")
    elapsed = time.perf_counter() - started
    for client in (pub, sub):
        client.disconnect()
        client.loop_stop()
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()

    port = free_port()
    loop = asyncio.new_event_loop()
    identities = DemoIdentities(edge_id="bench-estate")
    broker = EmbeddedBroker(f"127.0.0.1:{port}", identities)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(10)
    # As the demo runs it: with its identities and topic rules (an estate topic, the simulated sensors' login).
    amqtt_rate = measure(f"mqtt://{identities.sensors_user}:{identities.sensors}@127.0.0.1:{port}", args.messages)
    asyncio.run_coroutine_threadsafe(broker.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)

    with tempfile.TemporaryDirectory() as tmp:
        mosquitto = Mosquitto(Path(tmp))
        mosquitto.start()
        try:
            mosquitto_rate = measure(mosquitto.url, args.messages)
        finally:
            mosquitto.stop()
    print(f"amqtt (in process, as in the demo): {amqtt_rate:.0f} QoS 1 msg/s; Mosquitto: {mosquitto_rate:.0f} msg/s")
    print(
        f"amqtt_msgs_per_s={amqtt_rate:.0f} mosquitto_msgs_per_s={mosquitto_rate:.0f} "
        f"ratio={amqtt_rate / mosquitto_rate:.3f} messages={args.messages}"
    )


if __name__ == "__main__":
    main()
