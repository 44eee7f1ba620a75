"""Model manifests and weights: a manifest names the file and its sha256; nothing runs a file that does not match."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ModelError(Exception):
    """A model that cannot be used: missing manifest, missing or corrupt file, wrong checksum."""


class ModelInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = Field(ge=32, le=4096)
    height: int = Field(ge=32, le=4096)
    letterbox: Literal["top_left", "centre"] = "top_left"
    fill: int = Field(default=114, ge=0, le=255)
    any_size: bool = Field(
        default=False,
        description="fully convolutional: runs at any multiple of `stride`, whatever size it was exported at",
    )
    stride: int = Field(default=32, ge=1, le=256, description="the largest stride; an input side is a multiple of it")
    long_side: int | None = Field(
        default=None, ge=32, le=4096, description="an any-size model's input long side, the image's aspect kept"
    )

    @model_validator(mode="after")
    def _long_side(self) -> ModelInput:
        if self.long_side is not None:
            if not self.any_size:
                raise ValueError("long_side needs any_size: true (the model must run at other sizes)")
            if self.long_side % self.stride:
                raise ValueError(f"long_side {self.long_side} is not a multiple of the stride {self.stride}")
        return self


class ModelManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    licence: str
    url: str
    layout: Literal["yolox", "yolov8"]
    input: ModelInput
    labels: list[str] = Field(min_length=1)


def load_manifest(name: str, extra_dirs: list[Path] | None = None) -> ModelManifest:
    """The manifest `name`: a .yaml in one of `extra_dirs`, else the ones shipped in wangge/models."""
    candidates = [d / f"{name}.yaml" for d in extra_dirs or []]
    shipped = resources.files("wangge.models").joinpath(f"{name}.yaml")
    for path in candidates:
        if path.is_file():
            text = path.read_text("utf-8")
            break
    else:
        if not shipped.is_file():
            raise ModelError(
                f"no manifest for model {name!r} (looked in {[str(d) for d in extra_dirs or []]} and wangge/models)"
            )
        text = shipped.read_text("utf-8")
    try:
        return ModelManifest.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ModelError(f"manifest for model {name!r} is invalid: {exc}") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def locate_weights(manifest: ModelManifest, model_dir: Path) -> Path | None:
    """The verified weights file, or None when it is absent (the caller falls back); a file that is there but
    does not match the manifest is an error, never run."""
    path = model_dir / manifest.file
    if not path.exists():
        return None
    actual = sha256_of(path)
    if actual != manifest.sha256:
        raise ModelError(
            f"model {manifest.name}: {path} has sha256 {actual[:12]}…, the manifest says {manifest.sha256[:12]}…"
            f" (a different or damaged file; get it from {manifest.url})"
        )
    return path
