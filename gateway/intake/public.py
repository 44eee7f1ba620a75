"""The public report channel: a resident with no account reports what they see; the case opens at once.

Without identities, abuse is pushed back by what a request carries: its address and its browser (a random
cookie the page keeps) are each rate limited in the process before anything reaches the database, every photo
is decoded whole, a place outside every region is refused, and a call-back number can be required to be
verified by SMS. Every refusal is counted by reason in /metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from wangge.gateway.accounts.throttle import Window
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.reports import PersonReport, Submitted, submit_report
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.intake import phone as phones
from wangge.gateway.intake.config import IntakeConfig
from wangge.gateway.metrics import INTAKE_REFUSED

if TYPE_CHECKING:
    import asyncpg

BROWSER_COOKIE = "wangge_reporter"


@dataclass
class PublicIntake:
    """The public channel's state in one process: its settings, SMS sender and flood windows."""

    config: IntakeConfig
    sender: phones.SmsSender = field(default_factory=phones.LogSender)
    per_address: Window = field(init=False)
    per_browser: Window = field(init=False)
    codes_per_address: Window = field(init=False)

    def __post_init__(self) -> None:
        self.per_address = Window(self.config.per_address.limit, self.config.per_address.seconds)
        self.per_browser = Window(self.config.per_browser.limit, self.config.per_browser.seconds)
        self.codes_per_address = Window(10, 3600)

    @classmethod
    def from_config(cls, config: IntakeConfig) -> PublicIntake:
        return cls(config, phones.sender_for(config.phone))

    def admit(self, address: str, browser: str | None) -> None:
        """Count this attempt, or refuse it with 429 once its address or browser is past its limit."""
        now = time.monotonic()
        waits = [self.per_address.retry_after(address, now)]
        if browser:
            waits.append(self.per_browser.retry_after(browser, now))
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            refuse("rate_limited", 429, f"too many reports from here; try again in {round(wait)} s", wait)
        self.per_address.record(address, now)
        if browser:
            self.per_browser.record(browser, now)

    def admit_code(self, address: str) -> None:
        now = time.monotonic()
        wait = self.codes_per_address.retry_after(address, now)
        if wait is not None:
            refuse("rate_limited", 429, "too many codes asked for from here", wait)
        self.codes_per_address.record(address, now)


def refuse(reason: str, status: int, message: str, retry_after: float | None = None, **extra: Any) -> NoReturn:
    INTAKE_REFUSED.labels(reason).inc()
    if retry_after is not None:
        extra["retry_after"] = round(retry_after, 1)
    raise CaseError(status, message, reason=reason, **extra)


@dataclass(frozen=True)
class PublicReport:
    service: str  # a resident category code
    description: str
    lat: float
    lon: float
    photos: list[tuple[str, bytes]]
    phone: str | None = None
    code: str | None = None
    address: str | None = None


async def submit_public(
    pool: asyncpg.Pool, rules: CaseRules, intake: PublicIntake, report: PublicReport, now: datetime
) -> Submitted:
    """The report as a case (or joined to an open one nearby); refusals counted by reason."""
    cfg = intake.config
    choice = cfg.by_code(report.service)
    if choice is None:
        refuse("invalid", 422, f"no category {report.service!r}: pick one of GET /api/v1/public/intake")
    if len(report.photos) > cfg.max_photos:
        refuse("photo", 422, f"at most {cfg.max_photos} photos")
    phone = None
    if report.phone:
        try:
            phone = phones.normalise(report.phone)
        except ValueError as exc:
            refuse("phone", 422, f"phone {exc}")
    if cfg.phone.verification == "required" and phone is None:
        refuse("phone", 422, "a verified mobile number is needed: ask for a code first")
    verify = phone is not None and cfg.phone.verification != "off"
    if verify and not report.code:
        refuse("phone", 422, "enter the code sent to your phone")
    try:  # what the database refuses is counted here, by the reason it gives
        async with pool.acquire() as conn:
            if verify and phone is not None:
                async with conn.transaction():  # its own: a wrong code counts even when nothing else is stored
                    await phones.check_code(conn, cfg.phone, phone, report.code or "", now)
            async with conn.transaction():
                return await submit_report(
                    conn,
                    rules,
                    PersonReport(
                        "resident",
                        choice.category,
                        report.description,
                        report.lat,
                        report.lon,
                        photos=report.photos,
                        phone=phone,
                        address=report.address,
                    ),
                    now,
                )
    except CaseError as exc:
        INTAKE_REFUSED.labels(exc.extra.get("reason", "invalid")).inc()
        raise


async def ask_code(pool: asyncpg.Pool, intake: PublicIntake, number: str, address: str, now: datetime) -> str:
    """Send a verification code to the number; returns the number as it will be checked."""
    if intake.config.phone.verification == "off":
        refuse("phone", 404, "phone verification is not used here")
    try:
        phone = phones.normalise(number)
    except ValueError as exc:
        refuse("phone", 422, f"phone {exc}")
    intake.admit_code(address)
    async with pool.acquire() as conn, conn.transaction():
        await phones.send_code(conn, intake.config.phone, intake.sender, phone, now)
    return phone


async def public_areas(pool: asyncpg.Pool) -> tuple[list[list[float]] | None, dict[str, Any]]:
    """What the report page's map shows: the bounds of every region, and the outlines of the top two levels
    (names and boundaries are public; nothing else about a region is)."""
    async with pool.acquire() as conn:
        box = await conn.fetchrow(
            "SELECT min(min_lat) AS s, min(min_lon) AS w, max(max_lat) AS n, max(max_lon) AS e FROM regions"
            " WHERE geometry IS NOT NULL"
        )
        rows = await conn.fetch(
            "SELECT code, name, level, geometry FROM regions WHERE geometry IS NOT NULL AND level IN"
            " ('district', 'street') ORDER BY path LIMIT 500"
        )
    bounds = None if box is None or box["s"] is None else [[box["s"], box["w"]], [box["n"], box["e"]]]
    features = [
        {
            "type": "Feature",
            "properties": {"code": r["code"], "name": r["name"], "level": r["level"]},
            "geometry": r["geometry"],
        }
        for r in rows
    ]
    return bounds, {"type": "FeatureCollection", "features": features}
