"""Rule kinds as they are written in edge.yaml and in device profiles, each compiled to a pure detector spec.

`kind` selects the rule (threshold when absent, so older configs keep working). Every rule names the
metric it judges, the ticket category and severity of its alerts, and a title template with the fields
{metric} {value} {unit} {level} {device} {rule}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from wangge.configfile import Ident, StrictModel
from wangge.detectors.anomaly import AnomalySpec
from wangge.detectors.levels import LevelsSpec
from wangge.detectors.patterns import RangeSpec, RateSpec, RepeatSpec, StuckSpec
from wangge.detectors.readings import Severity
from wangge.detectors.rules import RuleSpec
from wangge.detectors.threshold import ThresholdSpec

Category = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")]
Duration = Annotated[float, Field(ge=0, le=7 * 86400)]


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What an alert of a rule says: the composer's half of a rule."""

    rule_id: str
    category: str
    severity: Severity
    title: str
    level: float | None = None
    judged: str | None = None  # the attribute name of a derived figure (rate_per_min, score)


class _Rule(StrictModel):
    id: Ident
    metric: Ident
    devices: list[Ident] | None = Field(default=None, description="limit to these devices; all when absent")
    severity: Severity = "major"
    category: Category
    title: str | None = Field(default=None, min_length=1, max_length=300)
    enabled: bool = True

    default_title: ClassVar[str] = "{rule}: {metric} {value:g}{unit} at {device}"

    def spec(self) -> RuleSpec:
        raise NotImplementedError

    def meta(self) -> RuleMeta:
        return RuleMeta(self.id, self.category, self.severity, self.title or self.default_title)


class Step(StrictModel):
    level: float
    severity: Severity


class _PastLevel(_Rule):
    """A rule whose condition is a value past a level: `above` or `below`, exactly one."""

    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_level(self) -> _PastLevel:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        return self

    @property
    def level(self) -> float:
        level = self.above if self.above is not None else self.below
        assert level is not None
        return level

    @property
    def direction(self) -> Literal["above", "below"]:
        return "above" if self.above is not None else "below"


class ThresholdRule(_PastLevel):
    """Above (or below) a level for `for_s`; clear past `clear` for `clear_for_s`; optional severity steps."""

    kind: Literal["threshold"] = "threshold"
    clear: float
    for_s: Duration = 0.0
    clear_for_s: Duration = 0.0
    steps: list[Step] | None = Field(default=None, description="severity by level; the first is the raise level")
    hysteresis: float = Field(default=0.0, ge=0, description="how far back past a step before its severity drops")
    default_title: ClassVar[str] = "{metric} {value:g}{unit} {direction} {level:g}{unit} at {device}"

    @model_validator(mode="after")
    def _levels(self) -> ThresholdRule:
        try:
            self.spec()
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self

    def base(self) -> ThresholdSpec:
        return ThresholdSpec(self.level, self.clear, self.direction, self.for_s, self.clear_for_s)

    def spec(self) -> RuleSpec:
        if not self.steps:
            return self.base()
        return LevelsSpec(self.base(), tuple((s.level, s.severity) for s in self.steps), self.hysteresis)

    def meta(self) -> RuleMeta:
        severity = self.steps[0].severity if self.steps else self.severity
        title = (self.title or self.default_title).replace("{direction}", self.direction)
        return RuleMeta(self.id, self.category, severity, title, self.level)


class RepeatRule(_PastLevel):
    """The condition (past `above`/`below`) began `count` times within `within_s`."""

    kind: Literal["repeat"]
    count: int = Field(ge=2, le=1000)
    within_s: float = Field(gt=0, le=30 * 86400)
    default_title: ClassVar[str] = "{rule}: {metric} repeatedly past {level:g}{unit} at {device}"

    def spec(self) -> RuleSpec:
        return RepeatSpec(self.level, self.count, self.within_s, self.direction)

    def meta(self) -> RuleMeta:
        return RuleMeta(self.id, self.category, self.severity, self.title or self.default_title, self.level)


class RateRule(_Rule):
    """Rising faster than `rise_per_min` (or falling faster than `fall_per_min`), measured over `window_s`."""

    kind: Literal["rate"]
    rise_per_min: float | None = Field(default=None, gt=0)
    fall_per_min: float | None = Field(default=None, gt=0)
    window_s: float = Field(default=60.0, gt=0, le=86400)
    for_s: Duration = 0.0
    clear_for_s: Duration = 0.0
    default_title: ClassVar[str] = "{rule}: {metric} changing {judged:.2g}{unit}/min at {device}"

    @model_validator(mode="after")
    def _one(self) -> RateRule:
        if (self.rise_per_min is None) == (self.fall_per_min is None):
            raise ValueError("give exactly one of 'rise_per_min' or 'fall_per_min'")
        return self

    def spec(self) -> RuleSpec:
        if self.rise_per_min is not None:
            limit = ThresholdSpec(self.rise_per_min, self.rise_per_min / 2, "above", self.for_s, self.clear_for_s)
        else:
            assert self.fall_per_min is not None
            limit = ThresholdSpec(-self.fall_per_min, -self.fall_per_min / 2, "below", self.for_s, self.clear_for_s)
        return RateSpec(limit, self.window_s, max(3600.0, 10 * self.window_s))

    def meta(self) -> RuleMeta:
        level = self.rise_per_min if self.rise_per_min is not None else self.fall_per_min
        return RuleMeta(
            self.id, self.category, self.severity, self.title or self.default_title, level, judged="rate_per_min"
        )


class StuckRule(_Rule):
    """The value has not moved by more than `tolerance` for `for_s`: a broken sensor."""

    kind: Literal["stuck"]
    for_s: float = Field(gt=0, le=30 * 86400)
    tolerance: float = Field(default=0.0, ge=0)
    min_readings: int = Field(default=3, ge=2)
    severity: Severity = "minor"
    default_title: ClassVar[str] = "{rule}: {metric} stuck at {value:g}{unit} at {device}"

    def spec(self) -> RuleSpec:
        return StuckSpec(self.for_s, self.tolerance, self.min_readings)


class RangeRule(_Rule):
    """Plausibility: outside [low, high] is a sensor fault, and the reading reaches no other rule."""

    kind: Literal["range"]
    low: float
    high: float
    severity: Severity = "minor"
    default_title: ClassVar[str] = "{rule}: implausible {metric} {value:g}{unit} at {device}"

    @model_validator(mode="after")
    def _order(self) -> RangeRule:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self

    def spec(self) -> RuleSpec:
        return RangeSpec(self.low, self.high)


class AnomalyRule(_Rule):
    """The online anomaly detector (detectors/anomaly.py) for metrics with no fixed threshold."""

    kind: Literal["anomaly"]
    threshold: float = Field(
        default=0.3,
        gt=0.0,
        le=0.9,
        description="how unusual a reading must be to raise (0-1; 0.3 is tuned on NAB, docs/sensors.md); "
        "above 0.9 the detector would never speak (0.995 was the old percentile scale)",
    )
    warmup: int = Field(default=200, ge=10, description="readings learnt before any alert")
    quiet: int = Field(default=100, ge=1, description="readings without an alarm before the alert ends")
    severity: Severity = "minor"
    default_title: ClassVar[str] = "{rule}: unusual {metric} {value:g}{unit} at {device}"

    def spec(self) -> RuleSpec:
        return AnomalySpec(self.threshold, self.warmup, self.quiet)

    def meta(self) -> RuleMeta:
        return RuleMeta(self.id, self.category, self.severity, self.title or self.default_title, judged="score")


def _kind(value: Any) -> str:
    """The union tag; `kind=` marks it so config errors can leave it out of the field path."""
    if isinstance(value, dict):
        return f"kind={value.get('kind', 'threshold')}"
    return f"kind={getattr(value, 'kind', 'threshold')}"


RuleConfig = Annotated[
    Annotated[ThresholdRule, Tag("kind=threshold")]
    | Annotated[RepeatRule, Tag("kind=repeat")]
    | Annotated[RateRule, Tag("kind=rate")]
    | Annotated[StuckRule, Tag("kind=stuck")]
    | Annotated[RangeRule, Tag("kind=range")]
    | Annotated[AnomalyRule, Tag("kind=anomaly")],
    Discriminator(
        _kind,
        custom_error_type="rule_kind",
        custom_error_message="kind must be one of threshold, repeat, rate, stuck, range, anomaly",
    ),
]
