"""Region and device imports against a real PostgreSQL: all or nothing, every bad row named."""

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sql
from tests.gateway.world import GRID_1, POINT_GRID_1, POINT_GRID_2
from tests.support import REPO, write_yaml
from wangge.gateway.cases import registry
from wangge.gateway.storage.migrations import migrate
from wangge.gateway.storage.pool import create_pool


def test_cli_import_is_all_or_nothing_and_export_round_trips(tmp_path: Path, database_url: str) -> None:
    config = write_yaml(tmp_path / "gateway.yaml", {"database_url": database_url})
    demo = REPO / "wangge" / "demo" / "regions.geojson"
    base = [sys.executable, "-m", "wangge", "admin"]
    bad = tmp_path / "regions.csv"
    bad.write_text(
        "code,name,level,parent_code\nD1,District,district,\nS1,Street,street,D1\nX1,,grid,S1\nG9,Grid,grid,S1\n"
    )
    result = subprocess.run(
        [*base, "import-regions", "--config", str(config), str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "nothing imported, 2 problem(s)" in result.stderr
    assert "line 4: name is required" in result.stderr
    assert "line 5: a grid must sit under a community, not a street" in result.stderr
    assert sql(database_url, "SELECT count(*) FROM regions")[0][0] == 0

    result = subprocess.run(
        [*base, "import-regions", "--config", str(config), str(demo)], capture_output=True, text=True, check=True
    )
    assert "15 regions imported" in result.stdout
    exported = subprocess.run(
        [*base, "export-regions", "--config", str(config), "--format", "csv"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported.splitlines()[0] == "code,name,level,parent_code,geometry"
    assert len(exported.strip().splitlines()) == 16
    again = tmp_path / "again.csv"
    again.write_text(exported)
    subprocess.run([*base, "import-regions", "--config", str(config), str(again)], check=True, capture_output=True)
    paths = {r["code"]: r["path"] for r in sql(database_url, "SELECT code, path FROM regions")}
    assert paths[GRID_1] == "/990101/990101001/990101001001/990101001001001/"


async def with_demo_regions(conn: Any) -> None:
    """A migrated database holding the demo district's 15 regions."""
    await migrate(conn)
    demo = REPO / "wangge" / "demo" / "regions.geojson"
    await registry.import_regions(conn, demo.read_text(), "regions.geojson")


def test_points_land_in_the_deepest_region_and_devices_need_known_regions(database_url: str) -> None:
    async def run() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await with_demo_regions(conn)
            assert (await registry.locate(conn, *POINT_GRID_1))["code"] == GRID_1
            assert (await registry.locate(conn, *POINT_GRID_2))["code"] == "990101002001001"
            assert await registry.locate(conn, 0.0, 0.0) is None
            with pytest.raises(registry.RegistryError) as info:
                await registry.import_devices(conn, "kind,id,region_code\nsensor,s1,NOPE\nrobot,r1,\n")
            assert info.value.problems == [
                "line 2: region_code 'NOPE' is not an imported region",
                "line 3: kind must be one of site, building, edge, camera, sensor",
            ]
            assert await conn.fetchval("SELECT count(*) FROM devices") == 0
            # A level cannot change under an existing code.
            with pytest.raises(registry.RegistryError) as info:
                await registry.import_regions(
                    conn, f"code,name,level,parent_code\n{GRID_1},G,community,990101001\n", "x.csv"
                )
            assert f"{GRID_1} is already a grid; levels cannot change" in info.value.problems[-1]
        await pool.close()

    asyncio.run(run())


def test_sites_buildings_and_devices_need_their_parents(database_url: str) -> None:
    async def run() -> None:
        pool = await create_pool(database_url)
        async with pool.acquire() as conn:
            await with_demo_regions(conn)
            header = "kind,id,edge_id,name,region_code,lat,lon,parent\n"
            with pytest.raises(registry.RegistryError) as info:
                await registry.import_devices(
                    conn,
                    header + f"building,b1,,B1,{GRID_1},,,no-site\ncamera,cam1,e1,Cam,{GRID_1},,,b1\nsite,s1,,S,,,,\n",
                )
            assert info.value.problems == [
                "line 4: a site needs region_code",
                "line 2: parent 'no-site' of building 'b1' is not a site",
            ]
            await registry.import_devices(
                conn,
                header + f"camera,cam1,e1,Cam,{GRID_1},,,b1\nbuilding,b1,,B1,{GRID_1},,,s1\nsite,s1,,S,{GRID_1},,,\n",
            )
            row = await conn.fetchrow(
                "SELECT d.building_code, b.site_code FROM devices d JOIN buildings b"
                " ON b.code = d.building_code WHERE d.device_id = 'cam1'"
            )
            assert (row["building_code"], row["site_code"]) == ("b1", "s1")
        await pool.close()

    asyncio.run(run())
