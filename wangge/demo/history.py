"""Eight weeks of the demo district's cases, walked through the real workflow at their own moments on the
first start, so the statistics page, the indicators, the 类案 map layer and the weekly report have something to
show a newcomer (a fresh install has no history, and an empty chart explains nothing).

Every case is a one-tap report placed by polygon (`create_report`) and moved by `apply_action`, the code the
API runs, with `now` set to the step's moment: routing, SLA clocks, late deadlines, recurrence, the event
history and the indicator facts all come out as they would have. Three places keep coming back (a bin, the
underpass, a fire lane). The fates are drawn from a fixed seed, so every demo shows the same history.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wangge.gateway.accounts.principal import Principal
from wangge.gateway.cases.actions import apply_action
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.registry import locate
from wangge.gateway.cases.reports import create_report, rate
from wangge.gateway.cases.rules import CaseRules

log = logging.getLogger(__name__)

DAYS = 56
PER_DAY = 5
SEED = 20261201
DEPARTMENT = "社区物业 Property management"  # for categories no route names
# (category, weight): what residents and grid workers report, the common things most.
CATEGORIES = [
    ("environment.garbage", 6),
    ("streets.illegal_parking", 5),
    ("public_facilities.street_light", 4),
    ("streets.road_damage", 3),
    ("environment.illegal_dumping", 3),
    ("public_facilities.manhole_cover", 2),
    ("fire_safety.fire_lane_blocked", 2),
    ("emergencies.water_logging", 1),
    ("emergencies.elevator_entrapment", 1),
]
# The places that keep coming back: (category, lat, lon, reports per week).
HOT_SPOTS = [
    ("environment.garbage", 22.5105, 113.9102, 3),  # the bins by the east gate
    # The low road 170 m north of the underpass: beyond the duplicate distance of the gauge, so the storm's flood
    # alert is a case of its own and not joined to a resident's report of yesterday.
    ("emergencies.water_logging", 22.5135, 113.905, 1),
    ("fire_safety.fire_lane_blocked", 22.51, 113.95, 2),  # a fire lane in the west community
]


@dataclass(frozen=True)
class Grid:
    code: str
    box: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


async def seed_history(pool: Any, rules: CaseRules, now: datetime, reporter: str = "demo-admin") -> int:
    """The history, once: nothing when the database has tickets already. Returns how many cases it made."""
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tickets)"):
            return 0
        grids = [
            Grid(r["code"], (r["min_lon"], r["min_lat"], r["max_lon"], r["max_lat"]))
            for r in await conn.fetch(
                "SELECT code, min_lon, min_lat, max_lon, max_lat FROM regions WHERE level = 'grid'"
                " AND geometry IS NOT NULL ORDER BY code"
            )
        ]
    if not grids:
        return 0
    rng = random.Random(SEED)
    admin = Principal(reporter, "admin", "/")
    made = 0
    for day in range(DAYS, -1, -1):
        for opened, category, point in _day(rng, now - timedelta(days=day), grids):
            if opened >= now:
                continue
            async with pool.acquire() as conn:
                if point is None:
                    point = await _somewhere(conn, rng, grids)
                if point is None:
                    continue
                async with conn.transaction():
                    await _case(conn, rules, admin, rng, opened, now, category, point)
            made += 1
    log.info("demo history: %d cases over the last %d days", made, DAYS)
    return made


def _day(
    rng: random.Random, day: datetime, grids: list[Grid]
) -> list[tuple[datetime, str, tuple[float, float] | None]]:
    """One day's reports: the ordinary ones (placed later) and the hot spots' (placed at the spot, a few metres
    apart), at daytime hours."""
    names = [c for c, _ in CATEGORIES]
    weights = [w for _, w in CATEGORIES]
    cases: list[tuple[datetime, str, tuple[float, float] | None]] = []
    for _ in range(rng.randint(PER_DAY - 2, PER_DAY + 2)):
        cases.append((_daytime(rng, day), rng.choices(names, weights)[0], None))
    for category, lat, lon, per_week in HOT_SPOTS:
        if rng.random() < per_week / 7:
            near = (lat + rng.uniform(-0.0002, 0.0002), lon + rng.uniform(-0.0002, 0.0002))
            cases.append((_daytime(rng, day), category, near))
    return sorted(cases, key=lambda c: c[0])


def _daytime(rng: random.Random, day: datetime) -> datetime:
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(hours=rng.uniform(0.5, 13.5))  # 08:30–21:30 in Asia/Shanghai (UTC+8)


async def _somewhere(conn: Any, rng: random.Random, grids: list[Grid]) -> tuple[float, float] | None:
    """A point inside one of the grids' polygons (a few tries inside its bounding box)."""
    grid = rng.choice(grids)
    for _ in range(20):
        lon = rng.uniform(grid.box[0], grid.box[2])
        lat = rng.uniform(grid.box[1], grid.box[3])
        region = await locate(conn, lon, lat)
        if region is not None and region["level"] == "grid":
            return lat, lon
    return None


async def _case(
    conn: Any,
    rules: CaseRules,
    admin: Principal,
    rng: random.Random,
    opened: datetime,
    now: datetime,
    category: str,
    point: tuple[float, float],
) -> None:
    """One case from its report through the steps its fate allows before `now`."""
    submitted = await create_report(
        conn,
        rules,
        admin,
        opened,
        category=category,
        text=f"{rules.categories.name(category)} (demo)",
        lat=point[0],
        lon=point[1],
    )
    if submitted.duplicate:  # joined an open case at the same place: that case walks its own way
        return
    ticket, token = submitted.ticket_id, submitted.token
    at = opened

    async def step(name: str, hours: tuple[float, float], **more: Any) -> bool:
        nonlocal at
        at = at + timedelta(hours=rng.uniform(*hours))
        if at >= now:
            return False
        try:
            await apply_action(conn, rules, admin, ticket, at, name=name, **more)
        except CaseError as exc:  # the fate asked for something the workflow refuses: the case stops there
            log.debug("demo case %d: %s refused (%s)", ticket, name, exc)
            return False
        return True

    if rng.random() < 0.08:
        await step("false_alarm", (0.3, 2), note="现场无此情况 nothing found on site")
        return
    department = None if await conn.fetchval("SELECT department FROM tickets WHERE id = $1", ticket) else DEPARTMENT
    if not (await step("register", (0.2, 2)) and await step("dispatch", (0.2, 3), department=department)):
        return
    if not await step("accept", (0.3, 6)):
        return
    if rng.random() < 0.1 and await step("request_extension", (1, 4), note="等配件 waiting for parts", extension="2d"):
        await step("approve_extension", (0.5, 3))
    if not await step("handle", (2, 90)):
        return
    reworked = rng.random() < 0.08
    if reworked and not (await step("rework", (1, 8), note="未处理干净 not done") and await step("handle", (2, 30))):
        return
    if not (await step("verify", (0.5, 10)) and await step("close", (0.2, 6))):
        return
    if rng.random() < 0.4 and at + timedelta(hours=2) < now:
        roll = rng.random()
        rating = "satisfied" if roll < 0.7 else "basically" if roll < 0.9 else "not_satisfied"
        await rate(conn, rules, token, rating, "", at + timedelta(hours=rng.uniform(0.5, 2)))
