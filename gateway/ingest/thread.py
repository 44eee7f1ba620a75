"""Alert ingest on an event loop and a database pool of its own, in its own thread.

The HTTP side shares its loop with sign-ins, the console's live feeds, webhooks and periodic jobs; measured
(docs/benchmarks.md, login_flood), a flood of sign-in attempts answered with 429 held alerts for seconds
when ingest shared that loop. On its own loop ingest gets the interpreter every switch interval however busy
HTTP is, so alerts are stored and confirmed on their own schedule.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.ingest.config import IngestConfig, MqttConfig
from wangge.gateway.ingest.consumer import AlertIngest
from wangge.gateway.storage.pool import connect_with_retry

log = logging.getLogger(__name__)

SPARE_CONNECTIONS = 2  # beside one per writer: for isolating bad rows


class IngestThread:
    def __init__(self, database_url: str, mqtt: MqttConfig, rules: CaseRules, ingest: IngestConfig) -> None:
        self._url = database_url
        self._args = (mqtt, rules, ingest)
        self._ingest: AlertIngest | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="alert-ingest", daemon=True)

    @property
    def connected(self) -> bool:
        return self._ingest is not None and self._ingest.connected

    @property
    def healthy(self) -> bool:
        return self._thread.is_alive() and self._ingest is not None and self._ingest.healthy

    def publish(self, topic: str, body: bytes) -> bool:
        """A command to an edge through ingest's MQTT connection (the gateway identity may write commands)."""
        return self._ingest is not None and self._ingest.publish(topic, body)

    async def start(self, timeout_s: float = 120) -> None:
        self._thread.start()
        if not await asyncio.to_thread(self._ready.wait, timeout_s):
            raise RuntimeError("alert ingest did not start")
        if self._error is not None:
            raise RuntimeError(f"alert ingest did not start: {self._error}") from self._error

    async def stop(self, timeout_s: float = 15) -> None:
        """Stop taking messages (what was not committed stays unacknowledged at the broker)."""
        if self._loop is not None and self._done is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._done.set)
        await asyncio.to_thread(self._thread.join, timeout_s)
        if self._thread.is_alive():
            log.error("alert ingest did not stop within %.0fs", timeout_s)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(), or logged when it happens later
            if not self._ready.is_set():
                self._error = exc
            else:
                log.exception("alert ingest's loop ended")
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        self._done = asyncio.Event()
        # Ingest leaves no session state (transaction-scoped locks only), so borrowing needs no reset round trip.
        size = self._args[0].writers + SPARE_CONNECTIONS
        pool = await connect_with_retry(self._url, max_size=size, reset_on_release=False)
        try:
            ingest = AlertIngest(pool, *self._args)
            await ingest.start()
            self._ingest = ingest
            self._ready.set()
            await self._done.wait()
            await ingest.stop()
        finally:
            await pool.close()
