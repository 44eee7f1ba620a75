"""The case system's settings as the code uses them, and 三事分流 routing: who handles a category where."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache

from wangge.gateway.cases.calendar import WorkCalendar
from wangge.gateway.cases.categories import Catalogue
from wangge.gateway.cases.config import CasesConfig, ClusterSnapshotConfig, DuplicatesConfig, RouteConfig
from wangge.gateway.cases.sla import SlaPolicy, pick_policy

ROOT_CAUSE = "rootcause"  # tickets.source of a 治理专项


@dataclass(frozen=True)
class CaseRules:
    calendar: WorkCalendar
    policies: list[SlaPolicy]
    routes: list[RouteConfig]
    yellow_share: float
    reopen_window: timedelta
    rating_window: timedelta
    recurring_count: int
    recurring_days: int
    token_hours: float
    categories: Catalogue
    root_cause_policy: SlaPolicy
    duplicates: DuplicatesConfig = field(default_factory=DuplicatesConfig)
    cluster_snapshots: ClusterSnapshotConfig = field(default_factory=ClusterSnapshotConfig)

    @classmethod
    def from_config(cls, config: CasesConfig) -> CaseRules:
        return cls(
            calendar=config.calendar(),
            policies=[s.policy() for s in config.all_sla()],
            routes=config.all_routes(),
            yellow_share=config.yellow_share,
            reopen_window=timedelta(hours=config.reopen_window_h),
            rating_window=timedelta(hours=config.rating_window_h),
            recurring_count=config.recurring_count,
            recurring_days=config.recurring_days,
            token_hours=config.token_hours,
            categories=config.catalogue(),
            root_cause_policy=config.root_cause_sla.policy(),
            duplicates=config.duplicates,
            cluster_snapshots=config.cluster_snapshots,
        )

    def policy_for(self, category: str, source: str) -> SlaPolicy | None:
        """A root-cause case (治理专项) runs on its own limits; every other ticket on its category's."""
        return self.root_cause_policy if source == ROOT_CAUSE else pick_policy(self.policies, category)


def route(rules: CaseRules, category: str, region_path: str) -> RouteConfig | None:
    """The most specific route for a ticket: longest category prefix first, then the deepest region."""
    best: tuple[int, int] | None = None
    chosen: RouteConfig | None = None
    for r in rules.routes:
        if r.category and not (category == r.category or category.startswith(r.category + ".")):
            continue
        depth = 0
        if r.region:
            marker = f"/{r.region}/"
            if marker not in region_path:
                continue
            depth = region_path[: region_path.index(marker)].count("/") + 1
        if best is None or (len(r.category), depth) > best:
            best, chosen = (len(r.category), depth), r
    return chosen


@cache
def default_rules() -> CaseRules:
    """The rules of a gateway.yaml without a `cases:` section (tests, benches, an app built without rules)."""
    return CaseRules.from_config(CasesConfig())
