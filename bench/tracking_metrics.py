"""HOTA, DetA, AssA, MOTA, IDF1 and identity switches by TrackEval (PyPI `trackeval`, the MOTChallenge evaluator),
not by our own code: the tracks and the ground truth are written as MOTChallenge files into a scratch folder
and TrackEval's own dataset reader and metrics score them.

Only the frames given are a sequence: at 5 analysed fps of a 10 fps clip the ground truth of the frames the
edge never looked at is not held against it (as MOTChallenge scores a tracker at the frame rate it ran at).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trackeval

SEQUENCE = "SEQ"
TRACKER = "wangge"


@dataclass(frozen=True)
class Track:
    """One box of one identity in one frame, in pixels (x, y = top left)."""

    identity: int
    x: float
    y: float
    w: float
    h: float
    score: float = 1.0


def _lines(frames: list[list[Track]], truth: bool) -> str:
    rows = []
    for index, boxes in enumerate(frames, start=1):
        for b in boxes:
            tail = "1,1,1" if truth else f"{b.score:.4f},-1,-1,-1"
            rows.append(f"{index},{b.identity},{b.x:.2f},{b.y:.2f},{b.w:.2f},{b.h:.2f},{tail}")
    return "\n".join(rows) + "\n"


def score(truth: list[list[Track]], predicted: list[list[Track]], width: int, height: int) -> dict[str, float]:
    """TrackEval's HOTA (mean over its localisation thresholds), DetA, AssA, MOTA, IDF1 and IDSW for the two
    sequences of equal length (frame i of each is the same image)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} ground-truth frames against {len(predicted)} predicted")
    with tempfile.TemporaryDirectory(prefix="wangge-trackeval-") as tmp:
        root = Path(tmp)
        gt_dir = root / "gt" / SEQUENCE
        (gt_dir / "gt").mkdir(parents=True)
        (gt_dir / "gt" / "gt.txt").write_text(_lines(truth, truth=True))
        (gt_dir / "seqinfo.ini").write_text(
            f"[Sequence]\nname={SEQUENCE}\nseqLength={len(truth)}\nimWidth={width}\nimHeight={height}\n"
        )
        data = root / "trackers" / TRACKER / "data"
        data.mkdir(parents=True)
        (data / f"{SEQUENCE}.txt").write_text(_lines(predicted, truth=False))
        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(root / "gt"),
                "TRACKERS_FOLDER": str(root / "trackers"),
                "OUTPUT_FOLDER": str(root / "out"),
                "TRACKERS_TO_EVAL": [TRACKER],
                "BENCHMARK": "MOT15",  # no preprocessing against distractor classes: every truth box counts
                "SEQ_INFO": {SEQUENCE: len(truth)},
                "SKIP_SPLIT_FOL": True,
                "PRINT_CONFIG": False,
            }
        )
        evaluator = trackeval.Evaluator(
            {
                "USE_PARALLEL": False,
                "PRINT_RESULTS": False,
                "PRINT_ONLY_COMBINED": False,
                "PRINT_CONFIG": False,
                "TIME_PROGRESS": False,
                "DISPLAY_LESS_PROGRESS": True,
                "OUTPUT_SUMMARY": False,
                "OUTPUT_EMPTY_CLASSES": False,
                "OUTPUT_DETAILED": False,
                "PLOT_CURVES": False,
            }
        )
        metrics = [
            trackeval.metrics.HOTA({"PRINT_CONFIG": False}),
            trackeval.metrics.CLEAR({"THRESHOLD": 0.5, "PRINT_CONFIG": False}),
            trackeval.metrics.Identity({"THRESHOLD": 0.5, "PRINT_CONFIG": False}),
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            results, _ = evaluator.evaluate([dataset], metrics)
    found = results["MotChallenge2DBox"][TRACKER][SEQUENCE]["pedestrian"]
    hota, clear, identity = found["HOTA"], found["CLEAR"], found["Identity"]
    return {
        "hota": float(np.mean(hota["HOTA"])),
        "deta": float(np.mean(hota["DetA"])),
        "assa": float(np.mean(hota["AssA"])),
        "mota": float(clear["MOTA"]),
        "idsw": float(clear["IDSW"]),
        "idf1": float(identity["IDF1"]),
    }
