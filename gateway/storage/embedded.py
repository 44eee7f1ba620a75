"""The embedded PostgreSQL of `wangge demo` and the tests: a real server from the `pgserver` pip package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pgserver


class EmbeddedPostgres:
    """A real PostgreSQL 16 from the `pgserver` pip package, kept under a data directory."""

    def __init__(self, data_dir: Path) -> None:
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        data_dir.mkdir(parents=True, exist_ok=True)
        self._server: Any = pgserver.get_server(data_dir.resolve(), cleanup_mode="stop")  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return str(self._server.get_uri())

    def stop(self) -> None:
        self._server.cleanup()
