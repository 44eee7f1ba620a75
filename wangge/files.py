"""Files that hold secrets (tokens, broker identities, keys): written whole, readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` at once (a reader never sees half a file), mode 600 from the first byte."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # a leftover .new from an earlier run keeps its own mode otherwise
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
