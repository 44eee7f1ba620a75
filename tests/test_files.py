"""Secret files are replaced whole and readable by their owner only, even over a leftover from a crash."""

from __future__ import annotations

import stat
from pathlib import Path

from wangge.files import write_private


def test_a_secret_file_is_replaced_whole_with_mode_600(tmp_path: Path) -> None:
    target = tmp_path / "edge-token"
    target.write_text("old\n")
    leftover = tmp_path / "edge-token.new"
    leftover.write_text("half")
    leftover.chmod(0o644)
    write_private(target, "wg_new\n")
    assert target.read_text() == "wg_new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not leftover.exists()
