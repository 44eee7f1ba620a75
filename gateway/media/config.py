"""The `media:` section of gateway.yaml: where media objects live and how big a clip may be."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from wangge.configfile import StrictModel

ACCESS_KEY_ENV = "WANGGE_S3_ACCESS_KEY"
SECRET_KEY_ENV = "WANGGE_S3_SECRET_KEY"


class LiveConfig(StrictModel):
    """Live view: the edge pushes HLS segments for as long as someone watches."""

    max_sessions_per_edge: int = Field(default=2, ge=1, le=64, description="the edge uplink's budget")
    idle_s: float = Field(default=60.0, ge=5, le=3600, description="a session nobody watched this long ends")
    start_timeout_s: float = Field(default=15.0, ge=1, le=120, description="no first segment by then: failed")
    max_segment_bytes: int = Field(default=8 * 1024 * 1024, ge=65536, le=256 * 1024 * 1024)


class MediaConfig(StrictModel):
    s3_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="an S3 endpoint (MinIO, SeaweedFS, OSS, COS); absent: an embedded SeaweedFS under data_dir/media",
    )
    bucket: str = Field(default="wangge-media", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    region: str = Field(default="us-east-1", min_length=1, max_length=64)
    access_key_env: str = Field(default=ACCESS_KEY_ENV, description="the variable holding the access key id")
    secret_key_env: str = Field(default=SECRET_KEY_ENV, description="the variable holding the secret key")
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_clip_bytes: int = Field(default=64 * 1024 * 1024, ge=65536, le=2 * 1024**3)
    max_clip_s: float = Field(default=300.0, gt=0, le=3600, description="a longer part is refused")
    offload_interval_s: float = Field(default=30.0, gt=0, le=3600, description="staged photos → object store")
    live: LiveConfig = LiveConfig()

    def credentials(self) -> tuple[str, str]:
        """The keys from the environment, or from the files `<NAME>_FILE` names (Docker/Kubernetes secrets);
        KeyError naming the variable when one is missing."""
        return _secret(self.access_key_env), _secret(self.secret_key_env)


def _secret(name: str) -> str:
    if name in os.environ:
        return os.environ[name]
    if f"{name}_FILE" in os.environ:
        return Path(os.environ[f"{name}_FILE"]).read_text("utf-8").strip()
    raise KeyError(f"media.s3_url is set, so {name} (or {name}_FILE) must hold the object store's key")
