"""The `intake:` section of gateway.yaml: the public report page (what residents may pick, how hard a flood is
pushed back, phone verification) and the Open311 interface."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from wangge.configfile import StrictModel

SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class ResidentCategory(StrictModel):
    """What a resident picks (short words of their own), and the catalogue category it becomes. Its `code` is
    also the Open311 service_code."""

    code: str = Field(description="a short slug, e.g. fire-lane; the Open311 service_code")
    zh: str = Field(min_length=1, max_length=20)
    en: str = Field(min_length=1, max_length=40)
    category: str = Field(description="the catalogue category the case gets, e.g. fire_safety.fire_lane_blocked")
    description: str = Field(default="", max_length=300, description="one line shown under the name")
    keywords: list[str] = Field(default_factory=list, max_length=20, description="Open311 keywords")

    @field_validator("code")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(f"{value!r} is not a short code like fire-lane")
        return value


def _resident(code: str, zh: str, en: str, category: str, description: str = "") -> ResidentCategory:
    return ResidentCategory(code=code, zh=zh, en=en, category=category, description=description)


DEFAULT_RESIDENT_CATEGORIES = (
    _resident(
        "fire-lane", "消防通道堵塞", "Blocked fire lane", "fire_safety.fire_lane_blocked", "车辆或杂物占用消防通道"
    ),
    _resident("garbage", "垃圾满溢", "Overflowing bins", "environment.garbage"),
    _resident("dumping", "乱倒垃圾", "Illegal dumping", "environment.illegal_dumping"),
    _resident("street-light", "路灯不亮", "Street light out", "public_facilities.street_light"),
    _resident("manhole", "井盖破损或缺失", "Broken manhole cover", "public_facilities.manhole_cover"),
    _resident("road", "道路破损", "Damaged road", "streets.road_damage"),
    _resident("parking", "乱停车", "Illegal parking", "streets.illegal_parking"),
    _resident("flooding", "积水", "Flooding", "emergencies.water_logging"),
    _resident("elevator", "电梯故障", "Lift out of order", "public_facilities.elevator"),
)


class RateLimit(StrictModel):
    limit: int = Field(ge=1, le=100_000)
    seconds: float = Field(gt=0, le=7 * 86400)


class PhoneConfig(StrictModel):
    """Phone verification of the call-back number: an SMS code sent through a pluggable sender."""

    verification: Literal["off", "optional", "required"] = Field(
        default="off", description="required: a report needs a verified phone; optional: a given phone must be"
    )
    sender: Literal["log", "http"] = Field(default="log", description="log: the code goes to the gateway log (demo)")
    sms_url: str | None = Field(default=None, description="sender http: the SMS gateway's endpoint (POST JSON)")
    sms_secret_env: str = Field(
        default="WANGGE_SMS_SECRET", description="environment variable holding the key that signs each SMS request"
    )
    template: str = Field(default="【网格】您的验证码是{code}，5分钟内有效。", max_length=200)
    code_ttl_s: float = Field(default=300, ge=30, le=3600)
    max_attempts: int = Field(default=5, ge=1, le=20)
    per_phone: RateLimit = Field(default_factory=lambda: RateLimit(limit=3, seconds=3600))

    @model_validator(mode="after")
    def _sender(self) -> PhoneConfig:
        if self.sender == "http" and not (self.sms_url and self.sms_url.startswith(("http://", "https://"))):
            raise ValueError("sender http needs sms_url, an http(s) URL")
        if "{code}" not in self.template:
            raise ValueError("template must contain {code}")
        if self.sms_secret_env.startswith("WANGGE_") and self.sms_secret_env != "WANGGE_SMS_SECRET":
            raise ValueError("sms_secret_env: WANGGE_* variables are settings; use WANGGE_SMS_SECRET or another prefix")
        return self


class IntakeConfig(StrictModel):
    public: bool = Field(default=True, description="the public report page and API (no account needed)")
    categories: list[ResidentCategory] = Field(
        default_factory=lambda: list(DEFAULT_RESIDENT_CATEGORIES), min_length=1, max_length=100
    )
    per_address: RateLimit = Field(
        default_factory=lambda: RateLimit(limit=20, seconds=600), description="public reports per client address"
    )
    per_browser: RateLimit = Field(
        default_factory=lambda: RateLimit(limit=5, seconds=600), description="public reports per browser (cookie)"
    )
    max_photos: int = Field(default=3, ge=0, le=10)
    phone: PhoneConfig = Field(default_factory=PhoneConfig)
    open311_jurisdiction: str = Field(default="wangge", min_length=1, max_length=100)
    open311_per_minute: int = Field(default=120, ge=1, le=100_000, description="default requests a minute per key")

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[ResidentCategory]) -> list[ResidentCategory]:
        codes = [c.code for c in value]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"resident categories listed twice: {', '.join(dupes)}")
        return value

    def by_code(self, code: str) -> ResidentCategory | None:
        return next((c for c in self.categories if c.code == code), None)
