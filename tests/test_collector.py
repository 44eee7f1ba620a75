"""A process's start-up kept out of the garbage collector, and the collector still doing its job afterwards."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
import wangge.edge.service  # what an edge process has loaded before its first frame
from wangge.collector import freeze_start_up

before = len(gc.get_objects())
frozen = freeze_start_up()
left = len(gc.get_objects())

class Node:
    pass

gc.disable()  # so that the count below is one collection's, not what automatic ones took meanwhile
for _ in range(1000):  # cycles made after start-up: garbage only the collector can free
    a, b = Node(), Node()
    a.other, b.other = b, a
del a, b
print(before, frozen, gc.get_freeze_count(), left, gc.collect())
"""


def test_the_start_up_is_frozen_and_later_cycles_are_still_collected() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    before, frozen, freeze_count, left, collected = map(int, done.stdout.split())
    assert before > 50_000  # modules, classes and functions of the edge's imports
    assert frozen == freeze_count >= before * 0.95  # nearly all of it out of every later collection
    assert left < 1_000  # a full collection now has next to nothing of the start-up to scan
    assert collected >= 2_000  # the 1,000 pairs made afterwards, two Nodes each
