"""One route module per resource; each holds a RouteTable. `ALL` is the app's whole route table."""

from __future__ import annotations

from wangge.gateway.http.routes import (
    accounts,
    auth,
    broker,
    console,
    edges,
    events,
    intake,
    live,
    open311,
    registry,
    reports,
    stats,
    system,
    tickets,
    webhooks,
)
from wangge.gateway.http.spec import RouteTable

ALL: tuple[RouteTable, ...] = (
    system.routes,
    auth.routes,
    accounts.routes,
    broker.routes,
    tickets.routes,
    reports.routes,
    intake.routes,
    open311.routes,
    registry.routes,
    edges.routes,
    live.routes,
    stats.routes,
    webhooks.routes,
    console.routes,
    events.routes,
)
