"""Phone verification for a resident's call-back number: a six-digit code sent by SMS, checked once.

The sender is pluggable: `log` writes the code to the gateway log (the demo), `http` posts it to the operator's
SMS gateway as signed JSON (a test stands a local server in its place, checking each request as the real one
would). Codes are kept hashed in PostgreSQL, so every replica can check a code another one sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import aiohttp

from wangge.gateway.cases.errors import CaseError
from wangge.gateway.intake.config import PhoneConfig

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

log = logging.getLogger(__name__)

_MAINLAND = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SIGNATURE_HEADER = "X-Wangge-Signature"
TIMESTAMP_HEADER = "X-Wangge-Timestamp"


def normalise(phone: str) -> str:
    """A mainland mobile number as its 11 digits, any other as E.164; ValueError for anything else."""
    compact = re.sub(r"[\s()-]", "", phone)
    if match := _MAINLAND.match(compact):
        return match.group(1)
    if _E164.match(compact):
        return compact
    raise ValueError("is not a mobile number (11 digits, or +country code and number)")


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class LogSender:
    """The demo's sender: the code is in the gateway log, where the person trying the demo can read it."""

    async def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s: %s (sender: log; set intake.phone.sender: http for a real SMS gateway)", phone, text)


class HttpSender:
    """POST {"phone", "text"} to the SMS gateway, signed with HMAC-SHA256 over "<timestamp>.<body>"."""

    def __init__(self, url: str, secret: bytes, timeout_s: float = 10.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, phone: str, text: str) -> None:
        body = json.dumps({"phone": phone, "text": text}, ensure_ascii=False).encode()
        stamp = str(int(datetime.now().timestamp()))
        mac = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"sha256={mac}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as session,
                session.post(self.url, data=body, headers=headers) as resp,
            ):
                if resp.status >= 300:
                    raise CaseError(503, f"the SMS gateway refused the message ({resp.status}); try again later")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CaseError(503, f"the SMS gateway cannot be reached ({type(exc).__name__}); try again later") from None


class SmsKeyMissing(ValueError):
    """The http sender's signing key is not in the environment: the gateway does not start without it."""


def sender_for(config: PhoneConfig) -> SmsSender:
    if config.sender == "http":
        secret = os.environ.get(config.sms_secret_env, "")
        if not secret:
            raise SmsKeyMissing(f"intake.phone.sender http needs the SMS signing key in ${config.sms_secret_env}")
        assert config.sms_url is not None  # the config's validator says so
        return HttpSender(config.sms_url, secret.encode())
    return LogSender()


async def send_code(conn: Conn, config: PhoneConfig, sender: SmsSender, phone: str, now: datetime) -> None:
    """A fresh code replaces any earlier one; at most `per_phone` codes to one number in its window."""
    key = _digest("phone:" + phone)
    last = await conn.fetchrow("SELECT sent_at FROM phone_codes WHERE phone_sha256 = $1", key)
    window = timedelta(seconds=config.per_phone.seconds / config.per_phone.limit)
    if last is not None and now - last["sent_at"] < window:
        wait = (last["sent_at"] + window - now).total_seconds()
        raise CaseError(429, "a code was sent to this number a moment ago", retry_after=round(wait, 1))
    code = f"{secrets.randbelow(10**6):06d}"
    await conn.execute(
        "INSERT INTO phone_codes (phone_sha256, code_sha256, sent_at, expires_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (phone_sha256) DO UPDATE SET code_sha256 = EXCLUDED.code_sha256, sent_at = EXCLUDED.sent_at,"
        " expires_at = EXCLUDED.expires_at, attempts = 0",
        key,
        _digest(phone + ":" + code),
        now,
        now + timedelta(seconds=config.code_ttl_s),
    )
    await sender.send(phone, config.template.replace("{code}", code))


async def check_code(conn: Conn, config: PhoneConfig, phone: str, code: str, now: datetime) -> None:
    """The code sent to `phone`, used up by this check; 422 naming what is wrong otherwise."""
    key = _digest("phone:" + phone)
    row = await conn.fetchrow(
        "UPDATE phone_codes SET attempts = attempts + 1 WHERE phone_sha256 = $1 RETURNING code_sha256, expires_at,"
        " attempts",
        key,
    )
    if row is None or row["expires_at"] <= now:
        raise CaseError(422, "no valid code for this number: ask for a new one", reason="phone")
    if row["attempts"] > config.max_attempts:
        await conn.execute("DELETE FROM phone_codes WHERE phone_sha256 = $1", key)
        raise CaseError(422, "too many wrong codes: ask for a new one", reason="phone")
    if not hmac.compare_digest(row["code_sha256"], _digest(phone + ":" + code)):
        raise CaseError(422, "the code is wrong", reason="phone")
    await conn.execute("DELETE FROM phone_codes WHERE phone_sha256 = $1", key)
