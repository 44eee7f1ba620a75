"""Request bodies and signatures, exactly as each receiver documents them.

- standard: Standard Webhooks — `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
  of "id.timestamp.body">`, the key being the base64 part of a `whsec_` secret.
- dingtalk: custom robot with 加签 — `timestamp` (ms) and `sign` = urlencoded base64 HMAC-SHA256 over
  "timestamp\\nsecret" keyed with the secret, in the query string; markdown message.
- wecom: group robot — markdown message (content at most 4096 bytes), no signature.
- feishu: custom bot with signature — `timestamp` (s) and `sign` = base64 HMAC-SHA256 keyed with
  "timestamp\\nsecret" over an empty message, in the body; interactive card with markdown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

ROBOT_FORMATS = ("dingtalk", "wecom", "feishu")
DEFAULT_RATE_PER_MIN = {"dingtalk": 20, "wecom": 20, "feishu": 100}
WECOM_MAX_BYTES = 4096
EVENT_TYPES = (
    "ticket.created",
    "ticket.updated",
    "ticket.escalated",
    "ticket.overdue",
    "ticket.closed",
    "alert.received",
    "device.offline",
    "report.weekly",
)
CategoryNamer = Callable[[str], str]  # a category code -> the words people read
_LIGHT_WORDS = {
    "ticket.created": "新工单 New",
    "ticket.updated": "更新 Updated",
    "ticket.escalated": "上报 Escalated",
    "ticket.overdue": "超时 Overdue",
    "ticket.closed": "结案 Closed",
    "alert.received": "告警 Alert",
    "device.offline": "设备离线 Offline",
    "report.weekly": "周报 Weekly report",
}


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    created_at: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class OutgoingRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def new_secret(fmt: str) -> str:
    if fmt == "standard":
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return "SEC" + secrets.token_hex(32) if fmt == "dingtalk" else secrets.token_urlsafe(24)


def check_secret(fmt: str, secret: str | None) -> str | None:
    """Why a secret cannot sign this format's requests, or None. Checked when a subscription is made, so a bad
    one never reaches a delivery."""
    if secret is None:
        return None
    if fmt == "wecom":
        return "a WeCom robot takes no secret (its key is in the URL)"
    if not secret.isascii() or not secret.isprintable() or not 8 <= len(secret) <= 400:
        return "a secret is 8 to 400 printable ASCII characters"
    if fmt == "standard":
        if not secret.startswith("whsec_"):
            return "a standard webhook secret is whsec_ followed by base64"
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (ValueError, binascii.Error):
            return "the part after whsec_ is not base64"
        if not 24 <= len(key) <= 64:
            return f"a standard webhook key is 24 to 64 bytes (this one is {len(key)})"
    return None


def standard_key(secret: str) -> bytes:
    """The signing key of a `whsec_` secret; ValueError for one that check_secret would refuse."""
    if problem := check_secret("standard", secret):
        raise ValueError(problem)
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(standard_key(secret), signed, hashlib.sha256).digest()).decode()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    string_to_sign = f"{timestamp_ms}\n{secret}"
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    string_to_sign = f"{timestamp_s}\n{secret}"
    return base64.b64encode(hmac.new(string_to_sign.encode(), b"", hashlib.sha256).digest()).decode()


def _line(event: Event, name: CategoryNamer) -> str:
    if event.type == "report.weekly":
        report = event.payload.get("report", {})
        return f"[周报 Weekly report] {report.get('week', '')} {report.get('scope', '')}: {report.get('link', '')}"
    ticket = event.payload.get("ticket", {})
    word = _LIGHT_WORDS.get(event.type, event.type)
    return (
        f"[{word}] #{ticket.get('id', '?')} {ticket.get('title', '')} · {name(str(ticket.get('category', '')))}"
        f" · {ticket.get('severity', '')} · {ticket.get('state', '')}"
    )


def _percent(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def weekly_markdown(report: dict[str, Any], name: CategoryNamer) -> tuple[str, str]:
    """A weekly report's summary (gateway/cases/weekly.py) as a robot's message, with the link to the page."""
    title = f"周报 Weekly report {report.get('week', '')}"
    rates = report.get("rates", {})
    lines = [
        f"### {title}",
        f"- 区域 area: {report.get('scope', '')}",
        f"- 上报 reported: {report.get('reported', 0)} (上周 week before: {report.get('previous_reported', 0)})",
        f"- 结案率 closed: {_percent(rates.get('close_rate'))} · 按期结案率 on time:"
        f" {_percent(rates.get('on_time_close_rate'))} · 满意率 satisfied: {_percent(rates.get('satisfaction_rate'))}",
        f"- 超时未结 overdue now: {report.get('overdue', 0)}",
        "",
        "**一周热点 Hotspots**",
        *[
            f"{i}. {name(str(h.get('category', '')))} {h.get('count', 0)}"
            f" ({'+' if float(h.get('share_change', 0)) >= 0 else ''}{float(h.get('share_change', 0)) * 100:.1f} pts)"
            for i, h in enumerate(report.get("hotspots", []), 1)
        ],
        "",
        "**类案 Recurring**",
        *[
            f"{i}. {name(str(c.get('category', '')))} @ {c.get('place', '')} ×{c.get('count', 0)}"
            for i, c in enumerate(report.get("clusters", []), 1)
        ],
        "",
        f"[查看周报 Open the report]({report.get('link', '')})",
    ]
    return title, "\n".join(lines)


def markdown(events: list[Event], limit_bytes: int | None = None, name: CategoryNamer = str) -> tuple[str, str]:
    """(title, markdown text) for one event or a digest of several; `name` words a category code for people."""
    if len(events) == 1 and events[0].type == "report.weekly":
        title, text = weekly_markdown(events[0].payload.get("report", {}), name)
    elif len(events) == 1:
        event = events[0]
        ticket = event.payload.get("ticket", {})
        title = f"{_LIGHT_WORDS.get(event.type, event.type)} #{ticket.get('id', '?')}"
        text = (
            f"### {title} {ticket.get('title', '')}\n\n- 类别 category: {name(str(ticket.get('category', '')))}\n"
            f"- 级别 severity: {ticket.get('severity', '')}\n- 状态 state: {ticket.get('state', '')}\n"
            f"- 区域 region: {ticket.get('region_path', '')}\n- 时间 at: {event.created_at}\n"
        )
    else:
        title = f"wangge: {len(events)} 条事件 events (digest)"
        text = f"### {title}\n\n" + "\n".join(f"- {_line(e, name)}" for e in events)
    if limit_bytes is not None and len(text.encode()) > limit_bytes:
        cut = text.encode()[: limit_bytes - 40].decode(errors="ignore")
        text = cut.rsplit("\n", 1)[0] + "\n- … (more in the console)"
    return title, text


def _with_query(url: str, extra: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def build(
    fmt: str,
    url: str,
    secret: str | None,
    message_id: str,
    events: list[Event],
    now_s: float,
    previous_secret: str | None = None,
    name: CategoryNamer = str,
) -> OutgoingRequest:
    """The HTTP request for one delivery (one event) or, for robots, a digest of several. A standard webhook
    is also signed with `previous_secret` while a rotation overlaps (the spec's space-separated signatures).
    Robots' messages word categories with `name` (people read them); a standard webhook keeps the codes."""
    if fmt == "standard":
        if len(events) != 1:
            raise ValueError("standard webhooks carry one event each")
        event = events[0]
        body = json.dumps(
            {"type": event.type, "timestamp": event.created_at, "data": {"event_id": event.id, **event.payload}},
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        ).encode()
        ts = int(now_s)
        headers = {"content-type": "application/json", "webhook-id": message_id, "webhook-timestamp": str(ts)}
        if secret:
            signatures = [standard_signature(s, message_id, ts, body) for s in (secret, previous_secret) if s]
            headers["webhook-signature"] = " ".join(signatures)
        return OutgoingRequest(url, headers, body)
    headers = {"content-type": "application/json; charset=utf-8"}
    if fmt == "dingtalk":
        title, text = markdown(events, name=name)
        ding = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        ts_ms = int(now_s * 1000)
        target = _with_query(url, f"timestamp={ts_ms}&sign={dingtalk_sign(secret, ts_ms)}") if secret else url
        return OutgoingRequest(target, headers, json.dumps(ding, ensure_ascii=False).encode())
    if fmt == "wecom":
        _, text = markdown(events, WECOM_MAX_BYTES, name)
        wecom = {"msgtype": "markdown", "markdown": {"content": text}}
        return OutgoingRequest(url, headers, json.dumps(wecom, ensure_ascii=False).encode())
    if fmt == "feishu":
        title, text = markdown(events, name=name)
        message: dict[str, Any] = {
            "msg_type": "interactive",
            "card": {
                "header": {"title": {"tag": "plain_text", "content": title}},
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}],
            },
        }
        if secret:
            ts = int(now_s)
            message = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **message}
        return OutgoingRequest(url, headers, json.dumps(message, ensure_ascii=False).encode())
    raise ValueError(f"unknown format {fmt!r}")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    retry_after_s: float | None = None
    gone: bool = False
    reason: str = ""


ROBOT_RATE_CODES = {"dingtalk": {130101}, "wecom": {45009}, "feishu": {11232, 9499}}


def judge(fmt: str, status: int, body: bytes, retry_after_s: float | None) -> Verdict:
    """Did the receiver take it? Robots answer 200 with an error code in the body."""
    if status == 410:
        return Verdict(False, gone=True, reason="410 Gone")
    if status == 429:
        return Verdict(False, retry_after_s=retry_after_s or 60.0, reason="429 Too Many Requests")
    if not 200 <= status < 300:
        return Verdict(False, retry_after_s=retry_after_s if status == 503 else None, reason=f"HTTP {status}")
    if fmt == "standard":
        return Verdict(True)
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return Verdict(False, reason="the robot answered with something that is not JSON")
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0))) if isinstance(answer, dict) else -1
    if code in (0, None):
        return Verdict(True)
    if code in ROBOT_RATE_CODES.get(fmt, set()):
        return Verdict(False, retry_after_s=60.0, reason=f"rate limited by the robot (code {code})")
    message = answer.get("errmsg", answer.get("msg", "")) if isinstance(answer, dict) else ""
    return Verdict(False, reason=f"robot error {code}: {str(message)[:200]}")
