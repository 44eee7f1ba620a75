"""The sensor rule engine: readings in, rule transitions out, one state per (rule, device).

Rules come from three places: rules bound by metric for every device (the config's `rules:`), the rules
of the device's profile (water gauge, smoke detector ...), and per-device overrides, which the edge
compiles into a profile of their own. Range (plausibility) rules run first: an implausible reading
reaches no other rule of its series.

Order within a series is decided here once for every rule: a reading older than the last accepted one
of the same (device, metric) is dropped as `out_of_order`, the same timestamp with the same value as
`duplicate`; the same timestamp with a new value is taken (a device correcting itself).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from wangge.detectors.liveness import Liveness
from wangge.detectors.patterns import RangeSpec, RepeatSpec
from wangge.detectors.readings import Reading, StaleState, Transition

OFFLINE_RULE = "device_offline"


class RuleSpec(Protocol):
    def initial(self) -> Any: ...

    def resume(self) -> Any: ...

    def step(self, state: Any, value: float, ts: float) -> Transition | None: ...

    def tick(self, state: Any, now: float) -> Transition | None: ...


@runtime_checkable
class LearningSpec(Protocol):
    """A rule that learns (the anomaly detector): its state is worth saving across a restart."""

    def snapshot(self, state: Any) -> dict[str, Any]: ...

    def restore(self, saved: Mapping[str, Any], active: bool) -> Any: ...


@dataclass(frozen=True, slots=True)
class RuleBinding:
    rule_id: str
    metric: str
    spec: RuleSpec
    devices: frozenset[str] | None = None
    meta: Any = None  # what the caller needs to word the alert; handed back on every event


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """What a kind of device means: its rules and how long it may stay silent."""

    rules: tuple[RuleBinding, ...] = ()
    heartbeat_s: float | None = None


@dataclass(frozen=True, slots=True)
class RuleEvent:
    rule_id: str
    reading: Reading
    transition: Transition
    meta: Any = None


class RuleEngine:
    def __init__(
        self,
        rules: Iterable[RuleBinding] = (),
        profiles: Mapping[str, ProfileRules] | None = None,
        heartbeat_s: float | None = None,
    ) -> None:
        self._global = _by_metric(rules)
        self._profiles = {name: (_by_metric(p.rules), p.heartbeat_s) for name, p in (profiles or {}).items()}
        self._heartbeat_s = heartbeat_s
        self._device_profile: dict[str, str] = {}
        self._states: dict[tuple[str, str], Any] = {}
        self._resumed: set[tuple[str, str]] = set()
        self._learning: dict[tuple[str, str], LearningSpec] = {}
        self._ticking: dict[tuple[str, str], RuleBinding] = {}
        self._last: dict[tuple[str, str], tuple[float, float]] = {}
        self._live: dict[str, Liveness] = {}

    # -- devices ---------------------------------------------------------------------------------
    def assign(self, device_id: str, profile: str, now: float) -> None:
        """`device_id` is of kind `profile`; its heartbeat clock starts now if it has not been seen."""
        if profile not in self._profiles:
            raise KeyError(f"unknown profile {profile!r}")
        self._device_profile[device_id] = profile
        self._live.setdefault(device_id, Liveness(now)).timeout_s = self._timeout(device_id)

    def profile_of(self, device_id: str) -> str | None:
        return self._device_profile.get(device_id)

    def restore_active(self, keys: Iterable[tuple[str, str]]) -> None:
        """Mark (rule_id, device_id) pairs as already active, e.g. alerts still open before a restart."""
        for key in keys:
            if key[0] == OFFLINE_RULE:
                self._live.setdefault(key[1], Liveness(0.0, self._timeout(key[1]))).offline = True
            else:
                self._resumed.add(key)

    def restore_learnt(self, saved: Mapping[tuple[str, str], Any]) -> dict[str, int]:
        """Take up what learning rules knew before a restart, by (rule_id, device_id); call after
        `restore_active`. Returns how many were restored and how many dropped, by reason: `version` (saved
        by another version of the rule), `damaged` (unreadable), `unknown_rule` (no such learning rule now)."""
        specs = self._learning_specs()
        counts = {"restored": 0, "version": 0, "damaged": 0, "unknown_rule": 0}
        for key, data in saved.items():
            spec = specs.get(key[0])
            if spec is None:
                counts["unknown_rule"] += 1
                continue
            try:
                state = spec.restore(data, key in self._resumed)
            except StaleState:
                counts["version"] += 1
                continue
            except (ValueError, TypeError, AttributeError):
                counts["damaged"] += 1
                continue
            self._resumed.discard(key)
            self._states[key] = state
            self._learning[key] = spec
            counts["restored"] += 1
        return counts

    def learnt(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every learning rule's state now, by (rule_id, device_id), ready to save."""
        return {key: spec.snapshot(self._states[key]) for key, spec in self._learning.items()}

    def state_of(self, rule_id: str, device_id: str) -> Any:
        """The rule's state for the device (None before its first reading): for tests and diagnostics."""
        return self._states.get((rule_id, device_id))

    # -- readings --------------------------------------------------------------------------------
    def admit(self, reading: Reading) -> str | None:
        """Why the reading must be dropped (`out_of_order`, `duplicate`), or None when it is taken."""
        key = (reading.device_id, reading.metric)
        last = self._last.get(key)
        if last is not None:
            if reading.ts < last[0]:
                return "out_of_order"
            if reading.ts == last[0] and reading.value == last[1]:
                return "duplicate"
        self._last[key] = (reading.ts, reading.value)
        return None

    def feed(self, reading: Reading) -> list[RuleEvent]:
        """Run an admitted reading through every rule of its series (range rules first)."""
        device, metric = reading.device_id, reading.metric
        rules = list(self._global.get(metric, ()))
        profile = self._device_profile.get(device)
        if profile is not None:
            rules.extend(self._profiles[profile][0].get(metric, ()))
        events: list[RuleEvent] = []
        plausible = True
        for rule in rules:
            if isinstance(rule.spec, RangeSpec) and self._applies(rule, device):
                plausible = rule.spec.plausible(reading.value) and plausible
                self._run(rule, reading, events)
        if plausible:
            for rule in rules:
                if not isinstance(rule.spec, RangeSpec) and self._applies(rule, device):
                    self._run(rule, reading, events)
        return events

    def seen(self, device_id: str, now: float) -> list[RuleEvent]:
        """Any message from the device: it is alive (ends its offline alert)."""
        live = self._live.get(device_id)
        if live is None:
            self._live[device_id] = Liveness(now, self._timeout(device_id))
            return []
        return _offline_event(device_id, live.seen(now))

    def announce(self, device_id: str, online: bool, at: float) -> list[RuleEvent]:
        """The device or its node said it is online or offline (LWT, status topic, birth or death)."""
        if online:
            return self.seen(device_id, at)
        live = self._live.setdefault(device_id, Liveness(at, self._timeout(device_id)))
        return _offline_event(device_id, live.gone(at))

    def tick(self, now: float) -> list[RuleEvent]:
        """Time passing: heartbeats run out, repeating conditions go quiet."""
        events: list[RuleEvent] = []
        for device_id, live in self._live.items():
            events.extend(_offline_event(device_id, live.tick(now)))
        for key, rule in list(self._ticking.items()):
            transition = rule.spec.tick(self._states[key], now)
            if transition is not None:
                reading = Reading(key[1], rule.metric, transition.value, now)
                events.append(RuleEvent(rule.rule_id, reading, transition, rule.meta))
        return events

    @property
    def devices(self) -> list[str]:
        return sorted(self._live)

    def offline_devices(self) -> list[str]:
        return sorted(d for d, live in self._live.items() if live.offline)

    # -- internals -------------------------------------------------------------------------------
    def _learning_specs(self) -> dict[str, LearningSpec]:
        bindings = [b for rules in self._global.values() for b in rules]
        bindings += [b for by_metric, _ in self._profiles.values() for rules in by_metric.values() for b in rules]
        return {b.rule_id: b.spec for b in bindings if isinstance(b.spec, LearningSpec)}

    def _timeout(self, device_id: str) -> float | None:
        """The device's heartbeat: its profile's, else the engine-wide one."""
        profile = self._device_profile.get(device_id)
        return (self._profiles[profile][1] if profile is not None else None) or self._heartbeat_s

    @staticmethod
    def _applies(rule: RuleBinding, device: str) -> bool:
        return rule.devices is None or device in rule.devices

    def _run(self, rule: RuleBinding, reading: Reading, events: list[RuleEvent]) -> None:
        key = (rule.rule_id, reading.device_id)
        state = self._states.get(key)
        if state is None:
            if key in self._resumed:
                self._resumed.discard(key)
                state = rule.spec.resume()
            else:
                state = rule.spec.initial()
            self._states[key] = state
            if isinstance(rule.spec, RepeatSpec):  # the one kind that ends with time alone
                self._ticking[key] = rule
            if isinstance(rule.spec, LearningSpec):
                self._learning[key] = rule.spec
        transition = rule.spec.step(state, reading.value, reading.ts)
        if transition is not None:
            events.append(RuleEvent(rule.rule_id, reading, transition, rule.meta))


def _by_metric(rules: Iterable[RuleBinding]) -> dict[str, list[RuleBinding]]:
    out: dict[str, list[RuleBinding]] = defaultdict(list)
    for rule in rules:
        out[rule.metric].append(rule)
    return dict(out)


def _offline_event(device_id: str, transition: Transition | None) -> list[RuleEvent]:
    if transition is None:
        return []
    return [RuleEvent(OFFLINE_RULE, Reading(device_id, "availability", transition.value, transition.at), transition)]
