"""The delivery loop: fan out, claim due deliveries, send them (robots get one digest per burst), record."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from wangge.gateway import metrics
from wangge.gateway.cases.categories import BUILTIN, Catalogue
from wangge.gateway.webhooks import formats, store
from wangge.gateway.webhooks.config import WebhooksConfig
from wangge.gateway.webhooks.destinations import DestinationRefused, GuardedResolver, check_literal, parse_allowlist
from wangge.gateway.webhooks.sealing import SealError, SecretBox

log = logging.getLogger(__name__)
OUTBOX_CHANNEL = "wangge_outbox"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class WebhookWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: WebhooksConfig,
        box: SecretBox,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        catalogue: Catalogue | None = None,
    ) -> None:
        self._pool = pool
        self._name = (catalogue or Catalogue.of(BUILTIN)).both
        self._config = config
        self._box = box
        self._allow = parse_allowlist(config.allow_networks)
        self.keys_ok = True  # False while this replica cannot unseal the subscriptions it claims
        self._clock = clock
        self._schedule = config.schedule_seconds()
        self._session: aiohttp.ClientSession | None = None
        self._sending = asyncio.Semaphore(config.concurrency)
        self._last_claim = 0.0  # time.monotonic() of the last claim
        self._wake = asyncio.Event()

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._allow), limit=self._config.concurrency)
            timeout = aiohttp.ClientTimeout(
                sock_connect=self._config.connect_timeout_s,
                sock_read=self._config.read_timeout_s,
                total=self._config.connect_timeout_s + self._config.read_timeout_s,
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def run(self) -> None:
        """Work whenever PostgreSQL says an outbox event was committed (LISTEN), else every poll_s."""
        wake = asyncio.Event()
        listener: Any = None
        try:
            while True:
                if listener is None or listener.is_closed():
                    listener = await self._listen(wake)
                try:
                    # Woken by ingest's commits, a pass that made no deliveries has nothing to claim, except
                    # retries coming due: those are looked for at least every poll_s.
                    busy = await self.step(claim_always=time.monotonic() - self._last_claim >= self._config.poll_s)
                except Exception:
                    log.exception("webhook pass failed; next pass shortly")
                    busy = False
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self._config.poll_s)
                    wake.clear()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(OUTBOX_CHANNEL, self._on_notify)
                    await self._pool.release(listener)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _listen(self, wake: asyncio.Event) -> Any:
        try:
            conn = await self._pool.acquire()
            self._wake = wake
            await conn.add_listener(OUTBOX_CHANNEL, self._on_notify)
            return conn
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot LISTEN for outbox events (%s); polling every %ss", exc, self._config.poll_s)
            return None

    async def step(self, claim_always: bool = True) -> bool:
        """One pass; True when there may be more work right away."""
        async with self._pool.acquire() as conn:
            fanned, made = await store.fan_out(conn)
            more = fanned >= store.FAN_OUT_BATCH  # a full pass: there may be more waiting
            if not made and not claim_always:
                return more
            self._last_claim = time.monotonic()
            claimed = await store.claim(conn, self._clock(), self._config.batch, self._config.lease_s)
            if not claimed:
                return more
            try:
                subs = await store.subscriptions(
                    conn, self._box, sorted({c.subscription_id for c in claimed}), self._clock()
                )
            except SealError as exc:
                # This replica's keys are not the ones that sealed the secrets: leave the deliveries to a
                # replica that has them, say so in /readyz and the log, and try again later.
                await store.release(conn, [c.id for c in claimed])
                if self.keys_ok:
                    log.error("%s: give every replica the same webhooks.secret_keys_file (docs/security.md)", exc)
                self.keys_ok = False
                return False
            self.keys_ok = True
            evs = await store.events(conn, sorted({c.event_id for c in claimed}))
        groups: dict[int, list[store.Claimed]] = defaultdict(list)
        for c in claimed:
            groups[c.subscription_id].append(c)
        sends: list[tuple[store.Subscription, list[store.Claimed]]] = []
        released: list[int] = []
        for sub_id, items in groups.items():
            sub = subs[sub_id]
            units = [items] if sub.format in formats.ROBOT_FORMATS else [[c] for c in items]
            if sub.failures_in_row >= self._config.breaker_failures:
                # Half-open: one probe to an endpoint that kept failing; the rest wait for its answer.
                released += [c.id for unit in units[1:] for c in unit]
                units = units[:1]
            sends += [(sub, unit) for unit in units]
        if released:
            async with self._pool.acquire() as conn:
                await store.release(conn, released)
        held = {c.id: c for _, unit in sends for c in unit}
        keeper = asyncio.create_task(self._keep_leases(held))
        try:
            await asyncio.gather(*(self._deliver(sub, unit, evs, held) for sub, unit in sends))
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        return len(claimed) >= self._config.batch

    async def _keep_leases(self, held: dict[int, store.Claimed]) -> None:
        """Renew the leases of this pass's deliveries until each is recorded: a batch is sent `concurrency` at a
        time, so the last of it may wait longer than one lease, and another replica would take it over and send
        it too. A replica that dies stops renewing, and its deliveries are taken over one lease later."""
        every = self._config.lease_s / 3
        while True:
            await asyncio.sleep(every)
            if not held:
                continue
            try:
                async with self._pool.acquire() as conn:
                    kept = await store.renew(conn, list(held.values()), self._clock(), self._config.lease_s)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot renew webhook leases (%s); retrying in %.1fs", exc, every)
                continue
            # Held too long without a renewal (a stall) and taken over: not ours to send any more.
            lost = [i for i in held if i not in kept]
            for i in lost:
                del held[i]
            if lost:
                metrics.WEBHOOK_LEASES_LOST.inc(len(lost))
                log.warning("%d webhook deliveries were taken over by another replica; not sending them", len(lost))

    async def _deliver(
        self,
        sub: store.Subscription,
        unit: list[store.Claimed],
        evs: dict[int, formats.Event],
        held: dict[int, store.Claimed],
    ) -> None:
        # A delivery holds its slot until its outcome is recorded: a sent request not yet marked delivered is one
        # that a replica killed now would have sent again, so at most `concurrency` can come twice.
        async with self._sending:
            unit = [c for c in unit if c.id in held]
            if not unit:
                return
            now = self._clock()
            try:
                request = formats.build(
                    sub.format,
                    sub.url,
                    sub.secret,
                    unit[0].message_id,
                    [evs[c.event_id] for c in unit],
                    now.timestamp(),
                    sub.previous_secret,
                    self._name,
                )
            except (ValueError, TypeError) as exc:
                # A subscription that cannot be signed or addressed ends here, alone: the rest of the batch goes on.
                outcome = store.Outcome(False, None, 0.0, f"cannot build the request: {exc}"[:500], gone=True)
            else:
                outcome = await self._send(sub.format, request, now)
            for c in unit:
                held.pop(c.id, None)  # settled: its lease is not renewed while the outcome is written
            async with self._pool.acquire() as conn:
                result = await store.record(
                    conn,
                    sub,
                    unit,
                    outcome,
                    self._clock(),
                    self._schedule,
                    self._config.breaker_failures,
                    self._config.breaker_open_s,
                )
        metrics.WEBHOOK_ATTEMPTS.labels(sub.format, result).inc()
        metrics.WEBHOOK_LATENCY.observe(outcome.latency_ms / 1000)
        if result != "delivered":
            log.warning(
                "webhook %s to subscription %s: %s (%s)",
                unit[0].message_id,
                sub.id,
                result,
                outcome.error or outcome.status,
            )

    async def _send(self, fmt: str, request: formats.OutgoingRequest, now: datetime) -> store.Outcome:
        started = time.perf_counter()
        try:
            check_literal(request.url, self._allow)
            session = await self._http()
            async with session.post(
                request.url, data=request.body, headers=request.headers, allow_redirects=False
            ) as resp:
                body = await resp.content.read(64 * 1024)
                latency = (time.perf_counter() - started) * 1000
                verdict = formats.judge(
                    fmt, resp.status, body, retry_after_seconds(resp.headers.get("Retry-After"), now)
                )
                excerpt = body[:500].decode("utf-8", "replace")
                return store.Outcome(
                    verdict.ok,
                    resp.status,
                    latency,
                    None if verdict.ok else verdict.reason,
                    excerpt,
                    verdict.retry_after_s,
                    verdict.gone,
                )
        except DestinationRefused as exc:
            error = f"refused destination: {exc}"
        except TimeoutError:
            error = "timed out"
        except aiohttp.ClientConnectorError as exc:
            refused = exc.__cause__ if isinstance(exc.__cause__, DestinationRefused) else None
            error = f"refused destination: {refused}" if refused else f"cannot connect: {exc.os_error}"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        return store.Outcome(False, None, (time.perf_counter() - started) * 1000, error[:500])
