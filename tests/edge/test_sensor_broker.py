"""Sensors through a real Mosquitto into the edge process's code: Sparkplug B nodes and LWT availability."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tests.edge.tahu import spb
from tests.support import Mosquitto, mqtt_publisher, wait_until
from wangge.edge.config import EdgeConfig
from wangge.edge.service import EdgeService
from wangge.edge.sparkplug import Payload


def edge(tmp_path: Path, broker: Mosquitto, edge_id: str, **sections: Any) -> EdgeService:
    config = {"edge_id": edge_id, "sensor_broker": broker.url, "uplink": {"broker": broker.url}}
    return EdgeService(EdgeConfig.model_validate(config | {"data_dir": str(tmp_path / "edge")} | sections))


class Listener:
    def __init__(self, url: str, *filters: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt_publisher(url)
        self.client.on_message = lambda c, u, m: self._add(m.topic, bytes(m.payload))
        for f in filters:
            self.client.subscribe(f, 1)
        time.sleep(0.3)

    def _add(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.got.append((topic, payload))

    def alerts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(p) for t, p in self.got if t.endswith("/alerts")]

    def on(self, suffix: str) -> list[bytes]:
        with self.lock:
            return [p for t, p in self.got if t.startswith(suffix)]


def test_sparkplug_node_through_mosquitto_births_data_gap_rebirth_and_death(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    listener = Listener(mosquitto.url, "wangge/edge/+/alerts", "spBv1.0/estate1/NCMD/#")
    service = edge(
        tmp_path,
        mosquitto,
        "estate-spb",
        sensors=[
            {
                "topic": "spBv1.0/estate1/#",
                "device": "{node}.{device}",
                "format": "sparkplug_b",
                "profile": "water_level",
                "rename": {"Water/Level": "water_level"},
            }
        ],
        devices=[
            {"id": "gw-a.gauge-1", "profile": "water_level", "rules": {"flooding": {"for_s": 0}}},
        ],
    )
    service.start()
    node = mqtt_publisher(mosquitto.url)
    try:
        wait_until(service.sensors.connected.is_set, 10, "edge connected to the estate broker")
        time.sleep(0.3)
        node.publish("spBv1.0/estate1/NBIRTH/gw-a", spb(0, [("bdSeq", None, 8, "long_value", 0)]), qos=1)
        node.publish(
            "spBv1.0/estate1/DBIRTH/gw-a/gauge-1", spb(1, [("Water/Level", 3, 10, "double_value", 5.0)]), qos=1
        )
        node.publish("spBv1.0/estate1/DDATA/gw-a/gauge-1", spb(2, [(None, 3, 10, "double_value", 45.0)]), qos=1)
        wait_until(lambda: listener.alerts(), 10, "the flood alert on the uplink")
        [flood] = listener.alerts()
        assert (flood["rule_id"], flood["source"]["device_id"], flood["severity"]) == (
            "water_level.flooding",
            "gw-a.gauge-1",
            "major",
        )
        # Messages 3 and 4 were lost: the edge asks the node to publish its births again.
        node.publish("spBv1.0/estate1/DDATA/gw-a/gauge-1", spb(5, [(None, 3, 10, "double_value", 46.0)]), qos=1)
        wait_until(lambda: listener.on("spBv1.0/estate1/NCMD/gw-a"), 10, "a rebirth request")
        request = Payload()
        request.ParseFromString(listener.on("spBv1.0/estate1/NCMD/gw-a")[0])
        assert [(m.name, m.boolean_value) for m in request.metrics] == [("Node Control/Rebirth", True)]
        # The node dies (its will): the node and its device go offline.
        node.publish("spBv1.0/estate1/NDEATH/gw-a", spb(None, [("bdSeq", None, 8, "long_value", 0)]), qos=1)
        wait_until(lambda: len(listener.alerts()) >= 3, 10, "two offline alerts")
        offline = {(a["rule_id"], a["source"]["device_id"], a["event"]) for a in listener.alerts()[1:]}
        assert offline == {("device_offline", "gw-a.gw-a", "start"), ("device_offline", "gw-a.gauge-1", "start")}
    finally:
        node.disconnect()
        service.stop()
        listener.client.disconnect()


def test_lwt_offline_and_bad_messages_do_not_disturb_good_ones(tmp_path: Path, mosquitto: Mosquitto) -> None:
    listener = Listener(mosquitto.url, "wangge/edge/+/alerts")
    service = edge(
        tmp_path,
        mosquitto,
        "estate-lwt",
        sensors=[
            {
                "topic": "zigbee2mqtt/+device",
                "device": "{device}",
                "format": "zigbee2mqtt",
                "profile": "access_door",
            }
        ],
        availability=[{"topic": "zigbee2mqtt/+device/availability", "device": "{device}"}],
    )
    service.start()
    pub = mqtt_publisher(mosquitto.url)
    try:
        wait_until(service.sensors.connected.is_set, 10, "edge connected")
        time.sleep(0.3)
        for payload in (b"\xff\xfe", b"{not json", b'{"contact": "sideways"}', b"[1,2]"):
            pub.publish("zigbee2mqtt/door-1", payload, qos=1)
        pub.publish("zigbee2mqtt/door-1", b'{"door_forced": true, "contact": true}', qos=1)
        pub.publish("zigbee2mqtt/door-1/availability", b'{"state": "offline"}', qos=1)
        wait_until(lambda: len(listener.alerts()) >= 2, 10, "forced-door and offline alerts")
        assert [(a["rule_id"], a["event"]) for a in listener.alerts()] == [
            ("access_door.forced", "start"),
            ("device_offline", "start"),
        ]
        pub.publish("zigbee2mqtt/door-1/availability", b'{"state": "online"}', qos=1)
        wait_until(lambda: len(listener.alerts()) >= 3, 10, "the device back online")
        assert (listener.alerts()[2]["rule_id"], listener.alerts()[2]["event"]) == ("device_offline", "end")
        assert service.sensors.readings == 2  # door_forced and door_open from the one good message
    finally:
        pub.disconnect()
        service.stop()
        listener.client.disconnect()
