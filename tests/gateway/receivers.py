"""Local HTTP receivers that check requests the way each vendor documents, for webhook tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from tests.support import free_port


@dataclass
class Received:
    at: float
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Received, int], Awaitable[web.Response]]


async def ok(received: Received, n: int) -> web.Response:
    return web.Response(status=204)


@dataclass
class Receiver:
    """Records every request, checks it with `check` (an exception = a 400 with the reason), answers with `respond`."""

    check: Callable[[Received], None] = lambda r: None
    respond: Responder = ok
    requests: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(time.time(), request.path, dict(request.query), dict(request.headers), await request.read())
        self.requests.append(received)
        try:
            self.check(received)
        except Exception as exc:
            self.problems.append(f"{type(exc).__name__}: {exc}")
            return web.Response(status=400, text=str(exc))
        return await self.respond(received, len(self.requests))

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def standard_check(secret: str) -> Callable[[Received], None]:
    """The Standard Webhooks reference library's own verification."""

    def check(r: Received) -> None:
        Webhook(secret).verify(r.body, {k.lower(): v for k, v in r.headers.items()})

    return check


def dingtalk_check(secret: str) -> Callable[[Received], None]:
    """DingTalk custom robot, 加签: sign = urlEncode(base64(HmacSHA256(secret, timestamp + "\\n" + secret)));
    the timestamp (ms) must be within an hour of now; the body is a markdown message."""

    def check(r: Received) -> None:
        timestamp = r.query["timestamp"]
        if abs(int(timestamp) / 1000 - time.time()) > 3600:
            raise ValueError("timestamp too far from now")
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        # The query string carries the urlencoded sign; decoded once (as aiohttp does) it must be the base64.
        if r.query["sign"] != expected:
            raise ValueError("sign mismatch (310000)")
        body = r.json()
        if body["msgtype"] != "markdown" or not body["markdown"]["title"] or not body["markdown"]["text"]:
            raise ValueError("not a markdown message")

    return check


def wecom_check(r: Received) -> None:
    """WeCom group robot: ?key=..., markdown content at most 4096 bytes."""
    if not r.query.get("key"):
        raise ValueError("missing key")
    body = r.json()
    if body["msgtype"] != "markdown" or len(body["markdown"]["content"].encode()) > 4096:
        raise ValueError("markdown content missing or over 4096 bytes")


def feishu_check(secret: str) -> Callable[[Received], None]:
    """Feishu custom bot with signature: sign = base64(HmacSHA256(key=timestamp + "\\n" + secret, msg=""))."""

    def check(r: Received) -> None:
        body = r.json()
        timestamp = body["timestamp"]
        if abs(int(timestamp) - time.time()) > 3600:
            raise ValueError("timestamp too far from now (19021)")
        expected = base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest())
        if body["sign"] != expected.decode():
            raise ValueError("sign match fail (19021)")
        if body["msg_type"] != "interactive" or not body["card"]["elements"]:
            raise ValueError("not a card")

    return check


def robot_ok(code_key: str = "errcode") -> Responder:
    async def respond(received: Received, n: int) -> web.Response:
        return web.json_response({code_key: 0, "errmsg" if code_key == "errcode" else "msg": "ok"})

    return respond


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: Callable[[], Awaitable[Any]]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        await step()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
