"""Edge A holds valid credentials and tries everything against edge B, through the shipped Mosquitto security
(central.conf + acl, identities written by `wangge admin`), a real gateway process and PostgreSQL.

Each attempt is refused by the broker or by the gateway, and B's ticket, alert and confirmations are exactly as
they would have been without A."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests import images
from tests.conftest import count, gateway_yaml, sql, start_gateway
from tests.support import Mosquitto, http_text, metric_value, running, wait_until
from tests.support import wangge_admin as admin
from tests.test_alert_format import alert
from wangge.mqtt import make_client, parse_broker_url


def secrets_of(path: Path) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in path.read_text().splitlines())


class Client:
    """A paho client that records its SUBACK codes, connection result and received messages."""

    def __init__(self, url: str) -> None:
        address = parse_broker_url(url)
        self.client = make_client(address, f"test-{address.username or 'anonymous'}")
        self.connected = threading.Event()
        self.refused: list[str] = []
        self.granted: dict[int, list[bool]] = {}
        self.received: list[tuple[str, bytes]] = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.__setitem__(
            mid, [not code.is_failure for code in codes]
        )
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.refused.append(str(reason))
        else:
            self.connected.set()

    def subscribe(self, topic: str) -> bool:
        _, mid = self.client.subscribe(topic, qos=1)
        wait_until(lambda: mid in self.granted, 5, f"SUBACK for {topic}")
        return self.granted[mid] == [True]

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(body).encode(), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("security", ["acl-file", "dynsec"])
def test_a_hostile_edge_cannot_reach_another_estate(tmp_path: Path, database_url: str, security: str) -> None:
    dynsec = security == "dynsec"
    passwd = tmp_path / ("dynamic-security.json" if dynsec else "passwd")
    broker = Mosquitto(tmp_path / "broker", dynsec_file=passwd) if dynsec else Mosquitto(tmp_path / "broker", passwd)
    gateway_password = tmp_path / "gateway-password"
    gateway_password.write_text("a gateway password\n")
    # Mosquitto's acl_file grants any subscription and filters at delivery: a client that joins the gateways'
    # shared group takes its turn of the messages and has them dropped (the edges re-send what is not
    # confirmed, so nothing is lost, only delayed). With acl_file the group's name is therefore a secret of the
    # gateways; the dynamic-security plugin refuses such a subscription outright, so the default name will do.
    group = "gateway" if dynsec else f"gw-{uuid.uuid4().hex}"
    gateway_url = f"mqtt://wangge-gateway:a%20gateway%20password@127.0.0.1:{broker.port}"
    config = gateway_yaml(
        tmp_path,
        database_url,
        gateway_url,
        mqtt={"url": gateway_url, "client_id": "wangge-test-gw1", "shared_group": group},
        ingest={"registry": "strict", "max_event_age_days": 3650},
    )
    for edge in ("estate-a", "estate-b"):
        made = admin(config, "create-edge", "--edge-id", edge, "--secrets-file", str(tmp_path / f"{edge}.secrets"))
        assert made.returncode == 0, made.stderr
    if dynsec:
        wrote = admin(config, "broker-dynsec", "--out", str(passwd), "--gateway-password-file", str(gateway_password))
    else:
        wrote = admin(
            config, "broker-passwords", "--out", str(passwd), "--gateway-password-file", str(gateway_password)
        )
    assert wrote.returncode == 0 and "3 identities" in wrote.stdout, wrote.stderr
    a, b = secrets_of(tmp_path / "estate-a.secrets"), secrets_of(tmp_path / "estate-b.secrets")
    broker.start()
    gateway, api = start_gateway(tmp_path, config)
    url = f"127.0.0.1:{broker.port}"
    with running(gateway):
        anonymous = Client(f"mqtt://{url}")
        wrong = Client(f"mqtt://estate-a:not-the-password@{url}")
        wait_until(lambda: anonymous.refused and wrong.refused, 5, "anonymous and wrong password refused")
        edge_b = Client(f"mqtt://estate-b:{b['broker_password']}@{url}")
        edge_a = Client(f"mqtt://estate-a:{a['broker_password']}@{url}")
        for c in (edge_a, edge_b):
            assert c.connected.wait(5)
        assert edge_b.subscribe("wangge/edge/estate-b/confirms")
        theirs = alert(edge_id="estate-b", source={"kind": "sensor", "device_id": "gauge-b"})
        edge_b.publish("wangge/edge/estate-b/alerts", theirs)
        key = f"{theirs['alert_id']}:0"
        wait_until(lambda: any(key.encode() in p for _, p in edge_b.received), 10, "B's alert confirmed")
        [ticket_b] = sql(database_url, "SELECT id, correlation_key FROM tickets WHERE rule_id = 'flood'")
        before = sql(database_url, "SELECT row_to_json(t)::text AS r FROM tickets t")[0]["r"]
        alerts_before = sql(database_url, "SELECT row_to_json(a)::text AS r FROM alerts a")[0]["r"]
        # (B's second alert below opens a second ticket of B's; the first is the one A goes after.)

        # The broker: A cannot read B's topics, join the gateway's group, or read every edge's alerts (Mosquitto
        # grants such a subscription and then delivers nothing on it: checked below with B's next alert).
        for topic in (
            "wangge/edge/estate-b/confirms",
            "wangge/edge/estate-b/alerts",
            "wangge/edge/+/alerts",
            "$share/gateway/wangge/edge/+/alerts",
            "#",
        ):  # fmt: skip (with dynsec, the real group)
            granted = edge_a.subscribe(topic)
            assert granted is False or not dynsec, f"{topic} granted to A"  # refused at SUBACK by the plugin
        assert edge_a.subscribe("wangge/edge/estate-a/confirms")
        second = alert(edge_id="estate-b", source={"kind": "sensor", "device_id": "gauge-b"}, rule_id="flood-2")
        edge_b.publish("wangge/edge/estate-b/alerts", second)
        key2 = f"{second['alert_id']}:0"
        wait_until(lambda: any(key2.encode() in p for _, p in edge_b.received), 10, "B's second alert confirmed")
        # ... nor publish as B, nor confirm B's events for it (Mosquitto drops what the ACL does not allow).
        forged = alert(edge_id="estate-b", source={"kind": "sensor", "device_id": "gauge-b"})
        edge_a.publish("wangge/edge/estate-b/alerts", forged)
        edge_a.publish("wangge/edge/estate-b/status", {"state": "offline", "edge_id": "estate-b"})
        edge_a.publish("wangge/edge/estate-b/confirms", {"stored": ["00000000-0000-0000-0000-000000000000:0"]})

        # The gateway: A's own topic, but B's ticket key and B's alert id.
        steal_ticket = alert(edge_id="estate-a", correlation_key=ticket_b["correlation_key"])
        end_theirs = {**theirs, "edge_id": "estate-a", "seq": 1, "event": "end", "ended_at": theirs["at"]}
        edge_a.publish("wangge/edge/estate-a/alerts", steal_ticket)
        steal_key = f"{steal_ticket['alert_id']}:0".encode()
        wait_until(lambda: any(steal_key in p for _, p in edge_a.received), 10, "A's alert confirmed to A")
        edge_a.publish("wangge/edge/estate-a/alerts", end_theirs)
        wait_until(lambda: count(database_url, "SELECT count(*) FROM dead_letters") == 1, 10, "the foreign event")
        [dead] = sql(database_url, "SELECT reason FROM dead_letters")
        assert dead["reason"] == "foreign_alert"
        wait_until(lambda: count(database_url, "SELECT count(*) FROM tickets") == 3, 10, "A's own ticket")
        [mine] = sql(database_url, "SELECT correlation_key, edge_id FROM tickets WHERE edge_id = 'estate-a'")
        assert mine["edge_id"] == "estate-a" and mine["correlation_key"].startswith("estate-a/")

        # HTTPS with A's token: not B's path, and not B's alert on its own path.
        jpeg = images.jpeg(shade=10)
        for path, status in (
            (f"/api/v1/edges/estate-b/alerts/{theirs['alert_id']}/snapshot", 403),
            (f"/api/v1/edges/estate-a/alerts/{theirs['alert_id']}/snapshot", 404),
        ):
            request = urllib.request.Request(
                api + path,
                data=jpeg,
                method="PUT",
                headers={"Authorization": f"Bearer {a['token']}", "Content-Type": "image/jpeg"},
            )
            try:
                urllib.request.urlopen(request, timeout=5)
                raise AssertionError(f"{path} accepted A's snapshot")
            except urllib.error.HTTPError as err:
                assert err.code == status, path

        time.sleep(1.0)  # anything the broker had let through would have arrived by now
        assert (
            sql(database_url, "SELECT row_to_json(t)::text AS r FROM tickets t WHERE id = $1", ticket_b["id"])[0]["r"]
            == before
        )
        assert (
            sql(database_url, "SELECT row_to_json(a)::text AS r FROM alerts a WHERE alert_id = $1", theirs["alert_id"])[
                0
            ]["r"]
            == alerts_before
        )
        assert count(database_url, "SELECT count(*) FROM alerts WHERE edge_id = 'estate-b'") == 2  # its own two
        assert count(database_url, "SELECT count(*) FROM attachments") == 0
        # B heard only the gateway's two confirmations; A heard only its own confirms, nothing of B's.
        assert [t for t, _ in edge_b.received] == ["wangge/edge/estate-b/confirms"] * 2
        assert {t for t, _ in edge_a.received} <= {"wangge/edge/estate-a/confirms"}
        state = sql(database_url, "SELECT state FROM edges WHERE edge_id = 'estate-b'")[0]["state"]
        assert state != "offline"
        metrics = http_text(api + "/metrics")
        assert metric_value(metrics, "wangge_gateway_alerts_rejected_total", {"reason": "foreign_alert"}) == 1
        for c in (anonymous, wrong, edge_a, edge_b):
            c.close()
    broker.stop()


def test_broker_passwords_are_what_mosquitto_itself_accepts(tmp_path: Path) -> None:
    """Our $7$ hash checked by Mosquitto's own tool: a password file it writes verifies with our code."""
    from wangge.gateway.accounts.broker import hash_password, verify_password

    theirs = tmp_path / "theirs"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(theirs), "edge-1", "s3cret pass"], check=True, timeout=10)
    stored = theirs.read_text().strip().split(":", 1)[1]
    assert stored.startswith("$7$") and verify_password("s3cret pass", stored)
    assert not verify_password("wrong", stored)
    ours = hash_password("s3cret pass")
    assert verify_password("s3cret pass", ours) and not verify_password("s3cret pas", ours)
