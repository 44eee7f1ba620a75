"""What a long-running wangge process does with Python's cyclic garbage collector once it has started."""

from __future__ import annotations

import gc


def freeze_start_up() -> int:
    """Keep everything loaded at start-up (modules, classes, schemas, the app) out of the collector.

    It lives as long as the process, yet every full collection scans it: 107,000 objects in the edge after its
    imports, 60 ms a collection on machine C, during which no alert is published and no frame analysed (the
    gateway: 74,000 objects, 21 ms on B). Frozen, a full collection scans only what was made since. Returns how
    many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
