"""Cameras and their rules in the edge config. Geometry is in 0-1 of the image, so it survives a resolution change."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from wangge.configfile import Ident, StrictModel
from wangge.detectors.video import rules as video_rules
from wangge.detectors.video.motion import MotionSettings
from wangge.detectors.video.tamper import TamperSettings

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Unit, Unit]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=64)]
Severity = Literal["info", "minor", "major", "critical"]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
VEHICLES = ["car", "truck", "bus", "motorcycle"]


class ScheduleConfig(StrictModel):
    start: HHMM
    end: HHMM
    timezone: str = "Asia/Shanghai"


class VideoRuleBase(StrictModel):
    id: Ident
    category: str = Field(min_length=1, max_length=128)
    severity: Severity = "major"
    title: str = Field(default="", max_length=200)
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    anchor: video_rules.Anchor = "bottom_centre"


class ZoneRuleConfig(VideoRuleBase):
    kind: Literal["zone"]
    polygon: Polygon
    inertia: int = Field(default=3, ge=1, le=100, description="frames inside before an entry counts")
    end_after_s: float = Field(default=2.0, ge=0, le=3600)
    schedule: ScheduleConfig | None = None


class LineRuleConfig(VideoRuleBase):
    kind: Literal["line"]
    a: Point
    b: Point
    direction: video_rules.Direction = "any"
    band: float = Field(default=0.01, ge=0, le=0.2)

    @model_validator(mode="after")
    def _length(self) -> LineRuleConfig:
        if abs(self.a[0] - self.b[0]) + abs(self.a[1] - self.b[1]) < 0.01:
            raise ValueError("a and b must be apart")
        return self


class LoiterRuleConfig(VideoRuleBase):
    kind: Literal["loiter"]
    polygon: Polygon
    seconds: float = Field(gt=0, le=86400)


class CrowdRuleConfig(VideoRuleBase):
    kind: Literal["crowd"]
    polygon: Polygon
    min_count: int = Field(ge=2, le=1000)
    seconds: float = Field(default=5.0, ge=0, le=86400)
    grace_s: float = Field(default=1.0, ge=0, le=60, description="a dip below min_count this short keeps the clock")


class StationaryRuleConfig(VideoRuleBase):
    kind: Literal["stationary"]
    polygon: Polygon
    seconds: float = Field(gt=0, le=86400)
    classes: list[str] = Field(default_factory=lambda: list(VEHICLES), min_length=1)


class ConfirmedRuleConfig(VideoRuleBase):
    """`kind: confirmed`: fire, smoke, or another class seen in `hits` of the last `window` analysed frames."""

    kind: Literal["confirmed"]
    polygon: Polygon = Field(default_factory=lambda: [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)])
    classes: list[str] = Field(default_factory=lambda: ["fire", "smoke"], min_length=1)
    hits: int = Field(default=3, ge=1, le=100)
    window: int = Field(default=5, ge=1, le=100)
    end_after_s: float = Field(default=10.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _hits(self) -> ConfirmedRuleConfig:
        if self.hits > self.window:
            raise ValueError("hits must not exceed window")
        return self


def _kind(value: Any) -> str | None:
    """The union tag, marked `kind=` so config errors leave it out of the field path (as the sensor rules do)."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return f"kind={kind}" if kind in KINDS else None


KINDS = ("zone", "line", "loiter", "crowd", "stationary", "confirmed")
VideoRuleConfig = Annotated[
    Annotated[ZoneRuleConfig, Tag("kind=zone")]
    | Annotated[LineRuleConfig, Tag("kind=line")]
    | Annotated[LoiterRuleConfig, Tag("kind=loiter")]
    | Annotated[CrowdRuleConfig, Tag("kind=crowd")]
    | Annotated[StationaryRuleConfig, Tag("kind=stationary")]
    | Annotated[ConfirmedRuleConfig, Tag("kind=confirmed")],
    Discriminator(
        _kind,
        custom_error_type="video_rule_kind",
        custom_error_message="kind must be one of zone, line, loiter, crowd, stationary, confirmed",
    ),
]


class DetectConfig(StrictModel):
    width: int | None = Field(default=None, ge=64, le=7680, description="decode size; absent: the stream's own")
    height: int | None = Field(default=None, ge=64, le=4320)
    fps: float = Field(default=5.0, gt=0, le=60)


class MotionConfig(StrictModel):
    threshold: int = Field(default=25, ge=1, le=255)
    min_area: float = Field(default=0.0005, ge=0, le=1)
    masks: list[Polygon] = Field(default_factory=list, description="areas to ignore: trees, timestamp overlays")


class TamperConfig(StrictModel):
    """Covered, defocused or moved camera (the view judged against a reference learnt from its own frames)."""

    enabled: bool = True
    id: Ident = "camera_tamper"
    category: str = "devices.camera_tamper"
    severity: Severity = "major"
    title: str = ""
    min_duration_s: float = Field(default=10.0, ge=0, le=3600)
    clear_after_s: float = Field(default=5.0, ge=0, le=3600)

    def settings(self) -> TamperSettings:
        return TamperSettings(min_duration_s=self.min_duration_s, clear_after_s=self.clear_after_s)


class RecordConfig(StrictModel):
    """Recording at the edge: the stream copied (never re-encoded) into short MP4 segments in a rolling buffer.

    By default the buffer holds just enough for event clips (`keep_s`); `continuous: true` keeps everything up to
    `continuous_s`. `max_bytes` and the edge's free-disk floor are hard limits over both."""

    enabled: bool = True
    segment_s: float = Field(default=10.0, ge=1, le=60, description="segment length (cut at the next keyframe)")
    keep_s: float = Field(default=120.0, ge=10, le=86400, description="the rolling buffer when not continuous")
    continuous: bool = False
    continuous_s: float = Field(default=86400.0, ge=60, le=90 * 86400, description="kept when continuous")
    max_bytes: int = Field(default=2 * 1024**3, ge=100_000, description="this camera's recordings, at most")
    pre_capture_s: float = Field(default=5.0, ge=0, le=120, description="a clip starts this long before its alert")
    post_capture_s: float = Field(default=5.0, ge=0, le=120, description="and ends this long after it")
    max_part_s: float = Field(default=60.0, ge=5, le=300, description="a longer alert's clip comes in parts")
    max_parts: int = Field(default=10, ge=1, le=1000, description="footage past this many parts is not clipped")

    @property
    def retain_s(self) -> float:
        return self.continuous_s if self.continuous else self.keep_s


class CameraConfig(StrictModel):
    id: Ident
    name: str = ""
    url: str = Field(min_length=1, description="rtsp://, http(s):// or a file path (replay)")
    realtime: bool = Field(default=False, description="a file is replayed at its own frame rate, looped, as a camera")
    detect: DetectConfig = DetectConfig()
    offline_after_s: float = Field(default=10.0, gt=0, le=3600, description="no frame this long: camera_offline")
    motion: MotionConfig = MotionConfig()
    motion_gating: bool = True
    blur_faces: bool = Field(default=False, description="blur faces and heads in snapshots")
    offline_severity: Severity = "major"
    tamper: TamperConfig = TamperConfig()
    record: RecordConfig = RecordConfig()
    rules: list[VideoRuleConfig] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[VideoRuleConfig]) -> list[VideoRuleConfig]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules

    def motion_settings(self) -> MotionSettings:
        return MotionSettings(
            threshold=self.motion.threshold,
            min_area=self.motion.min_area,
            masks=[[(float(x), float(y)) for x, y in m] for m in self.motion.masks],
        )

    def build_rules(self) -> list[video_rules.VideoRule]:
        built: list[video_rules.VideoRule] = []
        for r in self.rules:
            classes = frozenset(r.classes)
            if isinstance(r, ZoneRuleConfig):
                schedule = (
                    video_rules.Schedule(r.schedule.start, r.schedule.end, r.schedule.timezone) if r.schedule else None
                )
                built.append(
                    video_rules.ZoneRule(r.id, list(r.polygon), classes, r.anchor, r.inertia, r.end_after_s, schedule)
                )
            elif isinstance(r, LineRuleConfig):
                built.append(video_rules.LineRule(r.id, r.a, r.b, classes, r.direction, r.anchor, r.band))
            elif isinstance(r, LoiterRuleConfig):
                built.append(video_rules.LoiterRule(r.id, list(r.polygon), classes, r.seconds, r.anchor))
            elif isinstance(r, CrowdRuleConfig):
                built.append(
                    video_rules.CrowdRule(
                        r.id, list(r.polygon), classes, r.min_count, r.seconds, r.anchor, grace_s=r.grace_s
                    )
                )
            elif isinstance(r, StationaryRuleConfig):
                built.append(video_rules.StationaryRule(r.id, list(r.polygon), classes, r.seconds, r.anchor))
            else:
                built.append(video_rules.ConfirmedRule(r.id, list(r.polygon), classes, r.hits, r.window, r.end_after_s))
        return built


class SnapshotUploadConfig(StrictModel):
    gateway_url: str = Field(pattern=r"^https?://", description="the gateway's base URL")
    token_file: Path = Field(description="a file holding this edge's API token (rotated in place)")
    rotate_before_days: float = Field(
        default=30, ge=0, le=3650, description="ask for a new token when the current one has this little left"
    )

    @property
    def rotate_before(self) -> timedelta:
        return timedelta(days=self.rotate_before_days)


class VideoConfig(StrictModel):
    model: str | None = Field(default="yolox_nano", description="a manifest in wangge/models; null: HOG persons")
    model_dir: Path = Field(default=Path("./models"), description="where the weights files are")
    threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime intra-op threads")
    min_score: float = Field(default=0.25, gt=0, lt=1)
    input_long_side: int | None = Field(
        default=None,
        ge=32,
        le=4096,
        description="the detector's input long side in pixels, the frame's aspect kept (a model whose manifest"
        " says any_size; a multiple of its stride); absent: the manifest's",
    )
    snapshot_dir: Path | None = Field(default=None, description="default: <data_dir>/snapshots")
    snapshot_upload: SnapshotUploadConfig | None = Field(
        default=None, description="where snapshots, clips and live view go (the gateway), with the edge's token"
    )
    recordings_dir: Path | None = Field(default=None, description="default: <data_dir>/recordings")
    clip_dir: Path | None = Field(default=None, description="clips waiting for the gateway; default <data_dir>/clips")
    clip_spool_max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024, description="oldest clips go first")
    min_free_bytes: int = Field(
        default=1024**3, ge=0, description="recordings give way (oldest first) before the disk has less free"
    )
    live_max_sessions: int = Field(default=2, ge=0, le=64, description="live-view streams at once (the uplink)")
