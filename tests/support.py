"""Real services for tests: Mosquitto and PostgreSQL (pgserver), and wangge processes started as users would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.contract import checked_json

REPO = Path(__file__).resolve().parents[1]
TUNING = REPO / "docker" / "mosquitto" / "wangge-tuning.conf"
CENTRAL_CONF = REPO / "docker" / "mosquitto" / "central.conf"
CENTRAL_ACL = REPO / "docker" / "mosquitto" / "acl"
CENTRAL_DYNSEC_CONF = REPO / "docker" / "mosquitto" / "central-dynsec.conf"
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"  # Debian's mosquitto package


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Mosquitto:
    """A real Mosquitto with wangge's tuning and persistence; stop() and start() keep its sessions."""

    def __init__(self, workdir: Path, password_file: Path | None = None, dynsec_file: Path | None = None) -> None:
        """Anonymous; with `password_file` the shipped central broker's file security (central.conf: no
        anonymous clients, the shipped ACL); with `dynsec_file` the shipped dynamic-security one
        (central-dynsec.conf, the plugin from Debian's package)."""
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        security = "allow_anonymous true\n"
        if password_file is not None:
            security = "".join(
                line.replace("/mosquitto/config/passwd", str(password_file)).replace(
                    "/mosquitto/config/acl", str(CENTRAL_ACL)
                )
                + "\n"
                for line in CENTRAL_CONF.read_text().splitlines()
                if line.startswith(("allow_anonymous", "password_file", "acl_file"))
            )
        if dynsec_file is not None:
            security = "".join(
                line.replace("/usr/lib/mosquitto_dynamic_security.so", DYNSEC_PLUGIN).replace(
                    "/mosquitto/data/dynamic-security.json", str(dynsec_file)
                )
                + "\n"
                for line in CENTRAL_DYNSEC_CONF.read_text().splitlines()
                if line.startswith(("allow_anonymous", "plugin"))
            )
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n{security}user root\n"
            f"persistence_location {workdir}/\nlog_dest file {workdir}/mosquitto.log\n" + TUNING.read_text()
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: port_open(self.port), 10, f"mosquitto on port {self.port}")

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its sessions and queued messages, as a service stop does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password and ACL files again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


def mqtt_publisher(url: str, client_id: str | None = None) -> Any:
    """A connected paho client (QoS 1 publishes wait for PUBACK via wait_for_publish)."""
    from wangge.mqtt import make_client, parse_broker_url

    address = parse_broker_url(url)
    client = make_client(address, client_id or f"test-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(address.host, address.port)
    client.loop_start()
    return client


class Process:
    """`python -m wangge ...` as a child process, its output kept in a log file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wangge", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(self.env or {})},
            cwd=REPO,
        )
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            return self.proc.wait(20)
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_service(
    command: str,
    config: Path,
    log_path: Path,
    ready: Callable[[str], bool],
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> tuple[Process, str]:
    """`wangge <command> --config F`, waited for until `ready(base_url)`; fails early if it exits."""
    base = f"http://{yaml.safe_load(config.read_text())['http']}"
    proc = Process([command, "--config", str(config)], log_path, env).start()

    def check() -> bool:
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            raise AssertionError(f"{command} exited: {proc.log()[-2000:]}")
        try:
            return ready(base)
        except (OSError, TypeError, KeyError):
            return False

    wait_until(check, timeout, f"{command} to be ready")
    return proc, base


def http_json(
    url: str, token: str | None = None, timeout: float = 5, method: str = "GET", body: Any = None
) -> tuple[int, Any]:
    """Call a running gateway (GET, or `method` with a JSON `body`); the answer is checked against the API
    document."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, checked_json(method, url, resp.status, resp.headers.get_content_type(), resp.read())
    except urllib.error.HTTPError as err:
        return err.code, checked_json(method, url, err.code, err.headers.get_content_type(), err.read())


def http_text(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample from a Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in (labels or {}).items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        base, _, label_part = key.partition("{")
        if base == name and label_part.rstrip("}") == want:
            return float(value)
    return 0.0


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@contextlib.contextmanager
def running(*procs: Process) -> Iterator[list[Process]]:
    """Kill every process at the end, and those a test adds to the list it is given (restarts)."""
    started = list(procs)
    try:
        yield started
    finally:
        for p in started:
            p.kill()


ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"


def asset(relative: str) -> Path:
    """A file under ../shared/assets: skipped in a user's clone without it, a failure under CI (`CI=true`)."""
    import pytest

    path = ASSETS / relative
    if not path.exists():
        if os.environ.get("CI") == "true":
            raise FileNotFoundError(f"{path} is missing under CI: ../shared/assets must sit beside the repository")
        pytest.skip(f"{path} not present (../shared/assets is not part of a clone)")
    return path


def wangge_admin(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`wangge admin <args> --config <config>` as an operator runs it; the caller checks the outcome."""
    return subprocess.run(
        [sys.executable, "-m", "wangge", "admin", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


_OBJECT_STORE: Any = None


def shared_object_store() -> Any:
    """One real SeaweedFS (the embedded object store) for this test process, started on first use; its keys are
    put in the environment under the names gateway.yaml's `media:` reads, so child gateways find them."""
    global _OBJECT_STORE
    if _OBJECT_STORE is None:
        import atexit
        import tempfile

        from wangge.gateway.media.config import ACCESS_KEY_ENV, SECRET_KEY_ENV
        from wangge.gateway.media.embedded import EmbeddedObjectStore

        store = EmbeddedObjectStore(Path(tempfile.mkdtemp(prefix="wangge-s3-"))).start()
        atexit.register(store.stop)
        os.environ[ACCESS_KEY_ENV], os.environ[SECRET_KEY_ENV] = store.access_key, store.secret_key
        _OBJECT_STORE = store
    return _OBJECT_STORE


def media_section(bucket: str | None = None) -> dict[str, Any]:
    """gateway.yaml's `media:` for the shared store, with a bucket of this test's own."""
    import uuid

    return {"s3_url": shared_object_store().url, "bucket": bucket or f"t-{uuid.uuid4().hex[:16]}"}


def new_object_store(bucket: str | None = None) -> Any:
    """An ObjectStore client on the shared store, with a new bucket made."""
    import uuid

    from wangge.gateway.media.store import ObjectStore

    server = shared_object_store()
    store = ObjectStore(server.url, bucket or f"t-{uuid.uuid4().hex[:16]}", server.access_key, server.secret_key)
    store.ensure_bucket_sync()
    return store
