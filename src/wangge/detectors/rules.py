"""The sensor rule engine: readings in, rule transitions out, one state per (rule, device)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from wangge.detectors.readings import Reading, Transition
from wangge.detectors.threshold import ThresholdSpec, ThresholdState, threshold_step


@dataclass(frozen=True, slots=True)
class RuleBinding:
    rule_id: str
    metric: str
    spec: ThresholdSpec
    devices: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class RuleEvent:
    rule_id: str
    reading: Reading
    transition: Transition


class RuleEngine:
    def __init__(self, rules: Iterable[RuleBinding]) -> None:
        self._by_metric: dict[str, list[RuleBinding]] = defaultdict(list)
        for rule in rules:
            self._by_metric[rule.metric].append(rule)
        self._states: dict[tuple[str, str], ThresholdState] = {}

    def restore_active(self, keys: Iterable[tuple[str, str]]) -> None:
        """Mark (rule_id, device_id) pairs as already active, e.g. alerts still open before a restart."""
        for key in keys:
            self._states[key] = ThresholdState(active=True)

    def feed(self, reading: Reading) -> list[RuleEvent]:
        events = []
        for rule in self._by_metric.get(reading.metric, ()):
            if rule.devices is not None and reading.device_id not in rule.devices:
                continue
            key = (rule.rule_id, reading.device_id)
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = ThresholdState()
            transition = threshold_step(rule.spec, state, reading.value, reading.ts)
            if transition is not None:
                events.append(RuleEvent(rule.rule_id, reading, transition))
        return events
