"""The edge's HTTPS token: read from its file whenever the file changes, and rotated before it expires.

The gateway sends each edge request's token expiry in `Wangge-Token-Expires`; once fewer than `rotate_before`
remain, the edge asks for a new token and writes it over the file (the old one keeps working for the
gateway's grace period, so a request already on its way is not refused). An operator can also write a new token
into the file by hand (`wangge admin rotate-edge-token`): it is used from the next request on, no restart.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wangge.files import write_private

log = logging.getLogger(__name__)

EXPIRES_HEADER = "Wangge-Token-Expires"


class EdgeToken:
    def __init__(
        self,
        path: Path,
        gateway_url: str,
        edge_id: str,
        rotate_before: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self._url = f"{gateway_url.rstrip('/')}/api/v1/edges/{edge_id}/token"
        self._rotate_before = rotate_before
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._value = ""
        self.rotations = 0

    def value(self) -> str:
        with self._lock:
            stamp = self.path.stat().st_mtime_ns
            if stamp != self._stamp:
                self._value, self._stamp = self.path.read_text().strip(), stamp
            return self._value

    def after_reply(self, headers: Mapping[str, str]) -> None:
        """Rotate when the reply says the token expires within `rotate_before`."""
        text = headers.get(EXPIRES_HEADER)
        if not text:
            return
        try:
            expires = datetime.fromisoformat(text)
        except ValueError:
            log.warning("the gateway sent an unreadable %s: %r", EXPIRES_HEADER, text[:80])
            return
        if expires.tzinfo is None or expires - self._clock() > self._rotate_before:
            return
        self.rotate()

    def rotate(self) -> bool:
        """Ask for a new token and keep it; a failure is logged and the current token stays in use."""
        request = urllib.request.Request(
            self._url, data=b"", method="POST", headers={"Authorization": f"Bearer {self.value()}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                token = json.loads(reply.read())["token"]
        except urllib.error.HTTPError as exc:
            log.warning("token rotation refused by the gateway (%s); the current token stays", exc.code)
            return False
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("token rotation failed (%s); will try on a later reply", exc)
            return False
        if not isinstance(token, str) or not token.isascii() or not 16 <= len(token) <= 200:
            log.warning("the gateway sent no usable token; the current one stays")
            return False
        write_private(self.path, token + "\n")
        self.rotations += 1
        log.info("edge token rotated; the new one is in %s", self.path)
        return True
