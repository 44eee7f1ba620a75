"""Device offline: no message for longer than the heartbeat timeout, or the device (LWT, Sparkplug death
certificate, status topic) said it went away. Any message from the device, or its own "online", ends it.

Time here is the edge's arrival time, not the payload's: liveness is about the link, and a device with a
wrong clock is still talking.
"""

from __future__ import annotations

from dataclasses import dataclass

from wangge.detectors.readings import Transition


@dataclass(slots=True)
class Liveness:
    last_seen: float
    timeout_s: float | None = None
    offline: bool = False

    def seen(self, now: float) -> Transition | None:
        self.last_seen = max(self.last_seen, now)
        if self.offline:
            self.offline = False
            return Transition("end", now, 1.0)
        return None

    def gone(self, at: float) -> Transition | None:
        """The device (or its node) announced it is offline."""
        if self.offline:
            return None
        self.offline = True
        return Transition("start", at, 0.0)

    def tick(self, now: float) -> Transition | None:
        """Silence past the timeout starts the alert; it began when the device was last heard."""
        if self.offline or self.timeout_s is None or now - self.last_seen <= self.timeout_s:
            return None
        self.offline = True
        return Transition("start", self.last_seen, now - self.last_seen)
