"""The one distribution and import name: the wheel holds exactly the wangge/ tree (code through the links to
the root folders, migrations, schemas, console files, model manifests) and installs no top-level `gateway`."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [built] = out.glob("wangge-*.whl")
    return built


def _expected_files() -> set[str]:
    """Every module under wangge/ (links followed) and every file the package-data globs name."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["wangge"]
    core = REPO / "wangge"
    found = {
        f"wangge/{(Path(root) / name).relative_to(core).as_posix()}"
        for root, _, names in os.walk(core, followlinks=True)
        for name in names
        if name.endswith(".py") and "__pycache__" not in root
    }
    for pattern in globs:
        found |= {f"wangge/{Path(p).relative_to(core).as_posix()}" for p in glob.glob(str(core / pattern))}
    return {f for f in found if (REPO / f).is_file()}


def test_the_wheel_holds_exactly_the_wangge_tree(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"wangge", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    files = {n for n in names if n.startswith("wangge/")}
    assert files == _expected_files()
    migrations = sorted((REPO / "gateway" / "storage" / "migrations").glob("*.sql"))
    assert len(migrations) >= 7
    for needed in [
        *(f"wangge/gateway/storage/migrations/{m.name}" for m in migrations),
        "wangge/schemas/alert.v1.schema.json",
        "wangge/gateway/console/static/index.html",
        "wangge/gateway/console/static/console/app.js",
        "wangge/models/yolox_nano.yaml",
        "wangge/models/manifests.py",
        "wangge/detectors/threshold.py",
        "wangge/edge/service.py",
        "wangge/gateway/http/app.py",
    ]:
        assert needed in files, needed


def test_installed_wheel_imports_as_wangge_only(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert {p.name for p in site.iterdir() if not p.name.endswith(".dist-info")} <= {"bin", "wangge"}
    probe = (
        "import wangge, wangge.gateway.http.app\n"
        "from wangge.gateway.storage.migrations import migration_files\n"
        f"assert wangge.__file__.startswith({str(site)!r}), wangge.__file__\n"
        "print(len(migration_files()))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env={"PYTHONPATH": str(site)}, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == len(list((REPO / "gateway" / "storage" / "migrations").glob("*.sql")))


@pytest.mark.parametrize("name", ["gateway", "edge", "detectors", "models"])
def test_generic_names_are_not_importable_outside_the_repository(name: str, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True, env={})
    assert run.returncode == 1 and f"No module named '{name}'" in run.stderr, run.stderr
    ok = subprocess.run([sys.executable, "-c", f"import wangge.{name}"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
