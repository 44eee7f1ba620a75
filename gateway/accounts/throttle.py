"""Sign-in throttling, per user and per address: guessing passwords costs the guesser time, not the gateway.

Kept in the process (each replica counts its own): a throttle that needs the database to answer would let a
flood reach the database first. Memory is bounded: the oldest keys are forgotten first."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class Window:
    """At most `limit` events per `seconds` for any one key."""

    limit: int
    seconds: float
    max_keys: int = 100_000
    _events: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, or None when it may now."""
        events = self._events.get(key)
        if not events:
            return None
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if len(events) < self.limit:
            return None
        return max(events[0] + self.seconds - now, 0.001)

    def record(self, key: str, now: float) -> None:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            if len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(now)
        while len(events) > self.limit:
            events.popleft()


@dataclass
class LoginThrottle:
    """Failed sign-ins per username, and every attempt per address."""

    failures_per_user: Window = field(default_factory=lambda: Window(limit=5, seconds=300))
    attempts_per_address: Window = field(default_factory=lambda: Window(limit=30, seconds=60))
    # Every password check of this replica (~80 ms of one core each): 4 in 2 s keeps a guesser spread over many
    # addresses to a fifth of a core (bench/login_flood.py); a shift change of hundreds of sign-ins is a
    # fraction of that rate.
    checks: Window = field(default_factory=lambda: Window(limit=4, seconds=2))
    max_pending: int = 8  # password checks waiting or running at once; more are turned away, not queued
    pending: int = 0

    @classmethod
    def with_check_rate(cls, per_s: float) -> LoginThrottle:
        return cls(checks=Window(limit=max(1, round(per_s * 2)), seconds=2))

    def retry_after(self, username: str, address: str, now: float) -> float | None:
        waits = [
            w
            for w in (
                self.failures_per_user.retry_after(username.casefold(), now),
                self.attempts_per_address.retry_after(address, now),
                self.checks.retry_after("*", now),
            )
            if w is not None
        ]
        return max(waits) if waits else None

    def attempted(self, address: str, now: float) -> None:
        self.attempts_per_address.record(address, now)
        self.checks.record("*", now)

    def failed(self, username: str, now: float) -> None:
        self.failures_per_user.record(username.casefold(), now)
