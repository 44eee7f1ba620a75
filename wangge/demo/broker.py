"""The in-process MQTT broker (amqtt) for the demo. Production uses Mosquitto or EMQX by URL.

amqtt speaks MQTT 3.1.1 without shared subscriptions, so the demo gateway subscribes plainly. It gets the same
boundary as the shipped brokers, through two small amqtt plugins: no anonymous client (each part of the demo
has its own identity with a password made at start), and the shipped ACL rules on every `wangge/edge/...`
topic (the same `broker_may` EMQX is answered with). What amqtt cannot do is say so: it has no TLS here, and it
checks a subscription's topic filter, not each message it later delivers (as Mosquitto's ACL does).
The demo broker also stands in for the estate broker, so estate sensor topics are open to the estate's
identities (the edge and the simulated sensors), not to the gateway.

amqtt 0.12 walks its subscription table with awaits in between (fanning a message out; a new client's retained
messages), so a client subscribing meanwhile ends that walk with "dictionary changed size during iteration"
and the message never reaches the subscriptions not yet visited, though its publisher has its PUBACK. The demo
broker gives amqtt a table that walks a copy (`SubscriptionTable`).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from wangge.gateway.accounts.broker import GATEWAY_USER, broker_may

log = logging.getLogger(__name__)
CENTRAL_PREFIXES = ("wangge/", "$share/")


class IdentityAuth(BaseAuthPlugin):  # type: ignore[misc]
    """Only the identities the demo made, each with its password."""

    @dataclass
    class Config:
        identities: dict[str, str] = field(default_factory=dict)

    async def authenticate(self, *, session: Session) -> bool | None:
        expected = self.config.identities.get(session.username or "")
        given = session.password.decode() if isinstance(session.password, bytes) else session.password
        ok = expected is not None and given is not None and hmac.compare_digest(given.encode(), expected.encode())
        if not ok:
            log.warning("demo broker refused a login as %r", session.username)
        return ok


class TopicRules(BaseTopicPlugin):  # type: ignore[misc]
    """The shipped ACL on the central topics; estate topics for the estate's own identities."""

    @dataclass
    class Config:
        estate_users: list[str] = field(default_factory=list)

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool | None:
        username = (session.username if session else None) or ""
        if not topic or action == Action.RECEIVE:
            return bool(topic)  # delivery to a subscriber whose subscription was already checked
        verb = "publish" if action == Action.PUBLISH else "subscribe"
        allowed = (
            broker_may(username, verb, topic)
            if topic.startswith(CENTRAL_PREFIXES)
            else username in self.config.estate_users
        )
        if not allowed:
            log.warning("demo broker refused %s %s to %r", verb, topic, username)
        return allowed


@dataclass(frozen=True)
class DemoIdentities:
    """Usernames and passwords for the demo's parts, made fresh at every start."""

    edge_id: str
    gateway: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    edge: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    sensors: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    sensors_user: str = "demo-sensors"

    def table(self) -> dict[str, str]:
        return {GATEWAY_USER: self.gateway, self.edge_id: self.edge, self.sensors_user: self.sensors}


class SubscriptionTable(dict[str, list[tuple[Session, int]]]):
    """amqtt's topic filter → subscribers table, walked over a copy so that a walk outlives changes to it.

    Subscribers are copied too: an unsubscribe during a fan-out would otherwise shift the list under the walk
    and skip the next subscriber. A subscriber copied but gone by the time its turn comes is skipped by amqtt's
    own "connected" check.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.keys()))

    def items(self) -> list[tuple[str, list[tuple[Session, int]]]]:  # type: ignore[override]
        return [(topic, list(subscribers)) for topic, subscribers in super().items()]


class EmbeddedBroker:
    def __init__(self, bind: str, identities: DemoIdentities) -> None:
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": bind}},
            "plugins": {
                f"{__name__}.IdentityAuth": {"identities": identities.table()},
                f"{__name__}.TopicRules": {"estate_users": [identities.edge_id, identities.sensors_user]},
            },
        }
        self._config = config
        self._broker: Broker | None = None
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    async def start(self) -> None:
        self._broker = Broker(self._config)  # binds to the running event loop
        if type(self._broker._subscriptions) is not dict:
            raise RuntimeError("this amqtt keeps its subscriptions in a new way: check SubscriptionTable against it")
        self._broker._subscriptions = SubscriptionTable()  # amqtt's own is empty until clients subscribe
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
