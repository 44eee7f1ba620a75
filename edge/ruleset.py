"""edge.yaml's rules, profiles and devices compiled into one rule engine.

Alert rule ids: a top-level rule keeps its id; a profile's rule becomes `<profile>.<rule>`
(`water_level.flooding`), the same for a device with overrides, so the ticket of a device's flood is
found by the same correlation key whatever its thresholds.
"""

from __future__ import annotations

import dataclasses

from wangge.detectors.rules import ProfileRules, RuleBinding, RuleEngine
from wangge.edge.config import DeviceConfig, EdgeConfig
from wangge.edge.profiles import DeviceProfile
from wangge.edge.rule_config import RuleMeta


def _profile_rules(profile: DeviceProfile) -> ProfileRules:
    bindings = []
    for rule in profile.all_rules():
        rule_id = f"{profile.name}.{rule.id}"
        meta = dataclasses.replace(rule.meta(), rule_id=rule_id)
        bindings.append(RuleBinding(rule_id, rule.metric, rule.spec(), meta=meta))
    return ProfileRules(tuple(bindings), profile.heartbeat_s)


def device_profile_key(device_id: str, profile: str) -> str:
    return f"{profile}@{device_id}"


def _has_own_profile(device: DeviceConfig) -> bool:
    """A device that changes anything of its profile gets a profile of its own."""
    return bool(device.rules) or device.heartbeat_s is not None


def build_engine(config: EdgeConfig) -> RuleEngine:
    """The engine with every profile, and one derived profile per device that overrides something."""
    profiles = config.all_profiles()
    compiled = {name: _profile_rules(p) for name, p in profiles.items()}
    for device in config.devices:
        if _has_own_profile(device):
            own = profiles[device.profile].with_overrides(device.rules, device.heartbeat_s)
            compiled[device_profile_key(device.id, device.profile)] = _profile_rules(own)
    bindings = [
        RuleBinding(r.id, r.metric, r.spec(), frozenset(r.devices) if r.devices is not None else None, r.meta())
        for r in config.rules
        if r.enabled
    ]
    return RuleEngine(bindings, compiled, config.heartbeat_s)


def declared_profiles(config: EdgeConfig) -> dict[str, str]:
    """device id -> the engine profile key of every device listed in `devices:`."""
    return {d.id: device_profile_key(d.id, d.profile) if _has_own_profile(d) else d.profile for d in config.devices}


def top_level_metas(config: EdgeConfig) -> dict[str, RuleMeta]:
    return {r.id: r.meta() for r in config.rules}
