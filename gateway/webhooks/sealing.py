"""Webhook secrets and URLs sealed at rest (Fernet: AES-128-CBC with HMAC-SHA256, from `cryptography`).

Keys live outside the database: a key file (one Fernet key per line, the first seals, all unseal; default
`<data_dir>/webhook-keys`, made with one new key, mode 600, on first start) or `WANGGE_WEBHOOK_KEYS`
(comma-separated, first seals). The file is read again whenever it changes, so a key added by
`wangge admin new-webhook-key` is known to running replicas before `reseal-webhook-secrets` uses it.
A database dump alone therefore holds no usable secret.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from wangge.files import write_private

ENV_KEYS = "WANGGE_WEBHOOK_KEYS"


class SealError(Exception):
    """A sealed value that no known key opens: a key is missing (infrastructure), not bad data."""


def new_key_file(path: Path) -> None:
    """A key file with one new key, readable by its owner only; an existing file is left alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(Fernet.generate_key().decode() + "\n")


def add_key(path: Path) -> None:
    """Put a new key first (it seals from now on); the old ones stay so that what they sealed still opens."""
    old = path.read_text() if path.exists() else ""
    write_private(path, Fernet.generate_key().decode() + "\n" + old)


class SecretBox:
    def __init__(self, keys_file: Path | None = None, env_keys: str | None = None) -> None:
        if keys_file is None and not env_keys:
            raise ValueError("webhook secrets need keys: a key file or WANGGE_WEBHOOK_KEYS")
        self._file = keys_file
        self._env = env_keys
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._fernet = self._load()

    @classmethod
    def from_environment(cls, keys_file: Path) -> SecretBox:
        """Keys from WANGGE_WEBHOOK_KEYS when set, else from `keys_file` (created with a new key if absent)."""
        env = os.environ.get(ENV_KEYS)
        if env:
            return cls(env_keys=env)
        new_key_file(keys_file)
        return cls(keys_file)

    def _load(self) -> MultiFernet:
        if self._file is not None:
            self._stamp = self._file.stat().st_mtime_ns
            text = self._file.read_text()
        else:
            text = (self._env or "").replace(",", "\n")
        keys = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if not keys:
            raise ValueError(f"no webhook keys in {self._file or ENV_KEYS}")
        try:
            return MultiFernet([Fernet(k) for k in keys])
        except ValueError:
            raise ValueError(
                f"{self._file or ENV_KEYS}: a key is not a Fernet key (urlsafe base64 of 32 bytes)"
            ) from None

    def _current(self) -> MultiFernet:
        with self._lock:
            if self._file is not None and self._file.stat().st_mtime_ns != self._stamp:
                self._fernet = self._load()
            return self._fernet

    def seal(self, text: str) -> str:
        return self._current().encrypt(text.encode()).decode()

    def unseal(self, sealed: str) -> str:
        try:
            return self._current().decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealError("a webhook secret is sealed with a key this gateway does not have") from None

    def reseal(self, sealed: str) -> str:
        """The same value sealed with the first key."""
        try:
            return self._current().rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SealError("a webhook secret is sealed with a key this gateway does not have") from None


def masked_url(url: str) -> str:
    """A URL fit for lists: query values and token-like path segments (robot access tokens) cut to 4 characters."""
    parts = urlsplit(url)

    def cut(value: str) -> str:
        return quote(value[:4], safe="") + "…" if len(value) > 4 else "…"

    segments = [
        cut(s) if len(s) >= 16 and s.replace("-", "").replace("_", "").isalnum() else s for s in parts.path.split("/")
    ]
    query = "&".join(f"{quote(k, safe='')}={cut(v)}" for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, parts.netloc, "/".join(segments), query, ""))
