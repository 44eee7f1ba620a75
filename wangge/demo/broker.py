"""The in-process MQTT broker (amqtt) for the demo. Production uses Mosquitto or EMQX by URL.

amqtt speaks MQTT 3.1.1 without shared subscriptions, so the demo gateway subscribes plainly.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker


class EmbeddedBroker:
    def __init__(self, bind: str) -> None:
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": bind}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._config = config
        self._broker: Broker | None = None
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    async def start(self) -> None:
        self._broker = Broker(self._config)  # binds to the running event loop
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
