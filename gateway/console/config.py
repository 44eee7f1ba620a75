"""The `console:` section of gateway.yaml: the map's tiles and what a one-tap report offers."""

from __future__ import annotations

from pydantic import Field, field_validator

from wangge.configfile import StrictModel


class ConsoleConfig(StrictModel):
    """The operator console's map: no tile server means a plain background (the page works offline)."""

    tile_url: str | None = Field(
        default=None, description="the city's tile server, e.g. https://tiles.example.gov/{z}/{x}/{y}.png"
    )
    tile_attribution: str = Field(default="", max_length=300)
    max_zoom: int = Field(default=19, ge=1, le=22)
    report_categories: list[str] = Field(
        default_factory=lambda: [
            "public_facilities.manhole_cover",
            "public_facilities.street_light",
            "environment.garbage",
            "environment.illegal_dumping",
            "streets.illegal_parking",
            "streets.road_damage",
            "fire_safety.fire_lane_blocked",
            "emergencies.water_logging",
            "emergencies.elevator_entrapment",
        ],
        min_length=1,
        description="what a grid worker can pick in a one-tap report",
    )

    @field_validator("tile_url")
    @classmethod
    def _tiles(cls, value: str | None) -> str | None:
        if value is not None and not all(p in value for p in ("{z}", "{x}", "{y}")):
            raise ValueError("must contain {z}, {x} and {y}")
        if value is not None and not value.startswith(("http://", "https://", "/")):
            raise ValueError("must be an http(s) URL or a path on this gateway")
        return value
