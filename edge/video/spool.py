"""Evidence waiting for the gateway: one file per item with a JSON sidecar, sent by a thread with the edge's
token and deleted only after the gateway took it. Files survive an edge restart; the gateway is idempotent per
item, so an upload cut short by a crash is simply sent again. The spool is bounded: past `max_bytes` the oldest
items go (counted), so a gateway away for days cannot fill the edge's disk."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from wangge.edge import metrics
from wangge.edge.credentials import EdgeToken

log = logging.getLogger(__name__)
RETRY_STATUSES = (404, 408, 409, 425, 429)  # the alert not there yet, or the gateway busy: next round


class UploadSpool:
    kind = "item"
    suffix = ".bin"

    def __init__(
        self,
        directory: Path,
        edge_id: str,
        gateway_url: str | None,
        token: EdgeToken | None,
        max_bytes: int = 2 * 1024**3,
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._edge_id = edge_id
        self._url = gateway_url.rstrip("/") if gateway_url else None
        self._token = token
        self.max_bytes = max_bytes
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-upload", daemon=True)
        self.sent = 0

    def put(self, name: str, data: bytes, meta: dict[str, Any]) -> Path:
        path = self.directory / f"{name}{self.suffix}"
        tmp = path.with_suffix(".tmp")
        path.with_suffix(".json").write_text(json.dumps(meta))
        tmp.write_bytes(data)
        tmp.replace(path)
        self._bound()
        self._wake.set()
        return path

    def pending(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{self.suffix}"), key=_mtime)

    def _bound(self) -> None:
        items = self.pending()
        sizes = [_size(p) for p in items]
        total = sum(sizes)
        for path, size in zip(items, sizes, strict=True):
            if total <= self.max_bytes:
                break
            log.error("%s spool over %d bytes: %s dropped unsent", self.kind, self.max_bytes, path.name)
            self._remove(path)
            total -= size
            self.dropped(path)
        metrics.UPLOAD_SPOOL_BYTES.labels(self.kind).set(total)

    def start(self) -> None:
        if self._url is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def target(self, path: Path, meta: dict[str, Any]) -> tuple[str, str]:
        """(path and query under the gateway URL, content type) for one item."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(5.0)
            self._wake.clear()
            for path in self.pending():
                if self._stop.is_set():
                    return
                self._send(path)
            self._bound()

    def _send(self, path: Path) -> None:
        assert self._url is not None and self._token is not None
        try:
            stamp = path.stat().st_mtime_ns
            meta = json.loads(path.with_suffix(".json").read_text())
            where, content_type = self.target(path, meta)
            token = self._token.value()
            data = path.read_bytes()
        except (OSError, ValueError) as exc:  # the token file being replaced, or the item gone: next round
            log.warning("%s upload waits: %s", self.kind, exc)
            return
        request = urllib.request.Request(
            f"{self._url}{where}",
            data=data,
            method="PUT",
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                self._token.after_reply(reply.headers)
        except urllib.error.HTTPError as exc:
            if exc.code in RETRY_STATUSES or exc.code >= 500:
                return
            log.error("%s %s refused by the gateway (%s); dropped", self.kind, path.name, exc.code)
            self.refused(path)
        except OSError as exc:
            log.warning("%s upload failed (%s); will retry", self.kind, exc)
            time.sleep(1.0)
            return
        else:
            self.sent += 1
            self.delivered(path)
        if path.exists() and path.stat().st_mtime_ns == stamp:  # a better item may have replaced it meanwhile
            self._remove(path)

    def delivered(self, path: Path) -> None:
        """Hook: one item reached the gateway."""

    def refused(self, path: Path) -> None:
        """Hook: the gateway refused one item for good."""

    def dropped(self, path: Path) -> None:
        """Hook: one item dropped unsent to keep the spool within its bound."""

    @staticmethod
    def _remove(path: Path) -> None:
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    with contextlib.suppress(FileNotFoundError):
        return path.stat().st_mtime
    return 0.0


def _size(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        return path.stat().st_size
    return 0
