"""Video analytics accuracy on real ground truth: PETS 2009 S2.L1 (../shared/assets/video/vtest.avi, 795 frames
at 10 fps) with every person's box and identity in every frame (../shared/assets/ground_truth/pets09_s2l1_gt.txt).

The clip is served by a GStreamer RTSP server (H.264, as a camera would), decoded by OpenCV, and analysed at
--detect-fps (motion gating, YOLOX-Nano through ONNX Runtime, ByteTrack, the rules). The true events come from
the same rules run over the ground-truth tracks at the full 10 fps.

How an alert is matched to a true event (one to one, same rule, and same direction for a line):
- an instant (a tripwire crossing): within ±1 s of it;
- a lasting condition (zone occupied, loitering, crowd): its start within ±1 s of the true start, or the alert
  already open at the true start and opened at most LEAD_S (3 s) before it. Why the second: an operator is
  served by an alert that is up when the condition begins; a zone alert whose inertia was met by a person at the
  zone's edge a second or two before the ground truth's feet crossed it is that condition, not a false alarm and a
  miss. An alert open longer than LEAD_S before the true start was raised by something else and does not match it;
  an alert more than 1 s late is late (a miss and a false alarm), as an operator would count it.

Tracking is scored by TrackEval (bench/tracking_metrics.py: HOTA, DetA, AssA, MOTA, IDF1, ID switches) over the
analysed frames; our own IDF1 is printed beside TrackEval's as a check. Also: detection recall and precision at
IoU 0.5, and what motion gating saved and missed.

  python bench/video_accuracy.py [--detect-fps 5] [--no-motion-gating] [--source rtsp|file]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tracking_metrics import Track  # noqa: E402
from tracking_metrics import score as trackeval_score  # noqa: E402
from wangge.detectors.video.analyzer import CameraAnalyzer  # noqa: E402
from wangge.detectors.video.rules import (  # noqa: E402
    Box,
    CrowdRule,
    LineRule,
    LoiterRule,
    TrackedObject,
    VideoEvent,
    VideoRule,
    ZoneRule,
)
from wangge.edge.video.capture import open_stream  # noqa: E402
from wangge.edge.video.detector import OnnxDetector, build_detector  # noqa: E402

ASSETS = REPO.parent / "shared" / "assets"
CLIP = ASSETS / "video" / "vtest.avi"
GROUND_TRUTH = ASSETS / "ground_truth" / "pets09_s2l1_gt.txt"
MODEL_DIR = ASSETS / "models" / "yolox_nano"
CLIP_FPS = 10.0
FRAMES = 795
PERSON = frozenset({"person"})
WINDOW_S = 1.0  # an alert's start (or a crossing) this near the true one matches it
LEAD_S = 3.0  # a lasting condition's alert may already be open this long when the true condition starts

# The plaza seen from above-left: a zone on the walkway in the middle, a tripwire across it from top to bottom,
# the same zone for loitering and crowds.
ZONE = [(0.30, 0.35), (0.70, 0.35), (0.70, 0.85), (0.30, 0.85)]
LINE = ((0.50, 0.20), (0.50, 0.95))


def make_rules() -> list[VideoRule]:
    return [
        ZoneRule("walkway-intrusion", ZONE, PERSON, inertia=2, end_after_s=2.0),
        LineRule("centre-line", LINE[0], LINE[1], PERSON, band=0.01),
        LoiterRule("walkway-loiter", ZONE, PERSON, seconds=8.0, grace_s=2.0),
        CrowdRule("walkway-crowd", ZONE, PERSON, min_count=4, seconds=2.0, end_after_s=2.0),
    ]


def load_ground_truth(path: Path, width: int, height: int) -> dict[int, list[TrackedObject]]:
    """0-based video frame → the persons in it (GT frame N is video frame N - 1; rows flagged 0 are ignored)."""
    frames: dict[int, list[TrackedObject]] = defaultdict(list)
    for line in path.read_text().splitlines():
        f, pid, x, y, w, h, flag = line.split(",")[:7]
        if flag.strip() != "1":
            continue
        x1, y1 = float(x), float(y)
        box = (x1 / width, y1 / height, (x1 + float(w)) / width, (y1 + float(h)) / height)
        frames[int(f) - 1].append(TrackedObject(int(pid), "person", box, 1.0))
    return frames


def _iou_matrix(a: list[Box], b: list[Box]) -> np.ndarray:
    if not a or not b:
        return np.zeros((len(a), len(b)))
    aa, bb = np.array(a)[:, None, :], np.array(b)[None, :, :]
    w = np.clip(np.minimum(aa[..., 2], bb[..., 2]) - np.maximum(aa[..., 0], bb[..., 0]), 0, None)
    h = np.clip(np.minimum(aa[..., 3], bb[..., 3]) - np.maximum(aa[..., 1], bb[..., 1]), 0, None)
    inter = w * h
    area_a = (aa[..., 2] - aa[..., 0]) * (aa[..., 3] - aa[..., 1])
    area_b = (bb[..., 2] - bb[..., 0]) * (bb[..., 3] - bb[..., 1])
    return np.asarray(inter / (area_a + area_b - inter))


def idf1(pairs: list[tuple[list[TrackedObject], list[TrackedObject]]]) -> float:
    """IDF1 (Ristani et al. 2016): one global assignment of predicted tracks to true identities."""
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    n_true = n_pred = 0
    for truth, pred in pairs:
        n_true, n_pred = n_true + len(truth), n_pred + len(pred)
        ious = _iou_matrix([t.box for t in truth], [p.box for p in pred])
        for i, j in zip(*np.nonzero(ious >= 0.5), strict=True):
            overlap[truth[i].track_id, pred[j].track_id] += 1
    if not overlap:
        return 0.0
    true_ids = sorted({k[0] for k in overlap})
    pred_ids = sorted({k[1] for k in overlap})
    cost = np.zeros((len(true_ids), len(pred_ids)))
    for (t, p), n in overlap.items():
        cost[true_ids.index(t), pred_ids.index(p)] = -n
    rows, cols = linear_sum_assignment(cost)
    idtp = -cost[rows, cols].sum()
    return float(2 * idtp / (n_true + n_pred))


@dataclass(frozen=True)
class Opening:
    """What an operator is alerted by: a start (with when that alert ended) or a line crossing."""

    rule_id: str
    at: float
    until: float
    lasting: bool
    direction: object = None


def openings(events: list[VideoEvent], clip_end: float) -> list[Opening]:
    """Starts paired with their own end (the same condition's, for a rule holding several: each loiterer) and
    instants."""
    found = []
    for i, e in enumerate(events):
        if e.kind == "instant":
            found.append(Opening(e.rule_id, e.at, e.at, False, e.detail.get("direction")))
        elif e.kind == "start":
            end = next(
                (
                    later.at
                    for later in events[i + 1 :]
                    if later.rule_id == e.rule_id and later.kind == "end" and later.instance == e.instance
                ),
                clip_end,
            )
            found.append(Opening(e.rule_id, e.at, end, True))
    return found


def matches(truth: Opening, alert: Opening) -> bool:
    if truth.rule_id != alert.rule_id or truth.direction != alert.direction:
        return False
    if abs(alert.at - truth.at) <= WINDOW_S:
        return True
    return truth.lasting and alert.at <= truth.at <= alert.until and truth.at - alert.at <= LEAD_S


def match_events(truth: list[Opening], alerts: list[Opening]) -> int:
    """Alerts matched one to one to true events (the rule in the module's docstring): a maximum matching, each
    pair weighted by how close the two starts are, so a matching choice never costs another pair."""
    if not truth or not alerts:
        return 0
    cost = np.full((len(truth), len(alerts)), 1e6)
    for i, t in enumerate(truth):
        for j, a in enumerate(alerts):
            if matches(t, a):
                cost[i, j] = abs(a.at - t.at)
    rows, cols = linear_sum_assignment(cost)
    return int((cost[rows, cols] < 1e6).sum())


class PersonBoxes:
    """The detector as the analyzer calls it, keeping the person boxes (0-1) of the last call for scoring."""

    def __init__(self, detector: OnnxDetector, width: int, height: int) -> None:
        self.detector, self.width, self.height = detector, width, height
        self.persons: list[Box] = []

    def __call__(self, image: np.ndarray) -> sv.Detections:
        result = self.detector.detect([image])[0]
        classes = result.class_id if result.class_id is not None else np.zeros(0, dtype=int)
        self.persons = [
            (float(x1) / self.width, float(y1) / self.height, float(x2) / self.width, float(y2) / self.height)
            for (x1, y1, x2, y2), cls in zip(result.xyxy, classes, strict=True)
            if self.detector.labels[int(cls)] == "person"
        ]
        return result


def _pixels(o: TrackedObject, width: int, height: int) -> Track:
    x1, y1, x2, y2 = o.box
    return Track(o.track_id, x1 * width, y1 * height, (x2 - x1) * width, (y2 - y1) * height, o.score)


def run(
    detect_fps: float, gating: bool, progress: Callable[[str], None] = print, rtsp_url: str | None = None
) -> dict[str, float]:
    """Over RTSP every frame arrives in order over TCP, so the frame's index (and the ground truth's) is its count."""
    capture = open_stream(rtsp_url, 10.0) if rtsp_url else cv2.VideoCapture(str(CLIP))
    width, height = 768, 576
    truth_frames = load_ground_truth(GROUND_TRUTH, width, height)
    truth_rules = make_rules()
    true_events: list[VideoEvent] = []
    detector = build_detector("yolox_nano", MODEL_DIR, threads=1)
    assert isinstance(detector, OnnxDetector), "the YOLOX model file is missing from ../shared/assets"
    input_w, input_h = detector.input_for(np.zeros((height, width, 3), dtype=np.uint8))
    progress(f"detector: {detector.name}, a full frame goes in at {input_w}x{input_h}")
    analyzer = CameraAnalyzer(detector.labels, make_rules(), fps=detect_fps, motion_gating=gating)
    step = max(1, round(CLIP_FPS / detect_fps))
    alerts: list[VideoEvent] = []
    pairs: list[tuple[list[TrackedObject], list[TrackedObject]]] = []
    det_hits = det_total = det_pred = missed_in_skipped = 0
    recorder = PersonBoxes(detector, width, height)
    started = time.perf_counter()
    index = 0
    while index < FRAMES:
        ok, frame = capture.read()
        if not ok:
            break
        at = index / CLIP_FPS
        truth = truth_frames.get(index, [])
        for rule in truth_rules:
            true_events.extend(rule.observe(at, truth))
        if index % step == 0:
            recorder.persons = []
            result = analyzer.process(frame, at, recorder)
            alerts.extend(result.events)
            if result.inferred:
                boxes = recorder.persons
                ious = _iou_matrix([t.box for t in truth], boxes)
                if ious.size:
                    r, c = linear_sum_assignment(-ious)
                    det_hits += int((ious[r, c] >= 0.5).sum())
                det_pred += len(boxes)
                det_total += len(truth)
            else:
                missed_in_skipped += len(truth)
                det_total += len(truth)
            pairs.append((truth, [o for o in result.objects if o.label == "person"]))
        index += 1
    elapsed = time.perf_counter() - started
    clip_end = index / CLIP_FPS
    truth_open, alert_open = openings(true_events, clip_end), openings(alerts, clip_end)
    matched = match_events(truth_open, alert_open)
    per_rule: dict[str, float] = {}
    for rule in make_rules():
        rule_truth = [e for e in truth_open if e.rule_id == rule.id]
        rule_alerts = [e for e in alert_open if e.rule_id == rule.id]
        hits = match_events(rule_truth, rule_alerts)
        progress(f"  {rule.id:20s} true {len(rule_truth):3d}  alerts {len(rule_alerts):3d}  matched {hits:3d}")
        kind = type(rule).__name__.removesuffix("Rule").lower()
        per_rule[f"{kind}_precision"] = hits / len(rule_alerts) if rule_alerts else 0.0
        per_rule[f"{kind}_recall"] = hits / len(rule_truth) if rule_truth else 0.0
    tracking = trackeval_score(
        [[_pixels(o, width, height) for o in truth] for truth, _ in pairs],
        [[_pixels(o, width, height) for o in pred] for _, pred in pairs],
        width,
        height,
    )
    stats = analyzer.stats
    return {
        **per_rule,
        **tracking,
        "precision": matched / len(alert_open) if alert_open else 0.0,
        "recall": matched / len(truth_open) if truth_open else 0.0,
        "idf1_own": idf1(pairs),
        "det_recall": det_hits / det_total if det_total else 0.0,
        "det_precision": det_hits / det_pred if det_pred else 0.0,
        "frames": stats.frames,
        "region_inferences": stats.region_inferences,
        "inferences": stats.inferences,
        "skipped": stats.skipped_by_motion,
        "gt_boxes_in_skipped_frames": missed_in_skipped,
        "true_events": len(truth_open),
        "alerts": len(alert_open),
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--detect-fps", type=float, default=5.0)
    parser.add_argument("--no-motion-gating", action="store_true")
    parser.add_argument("--source", choices=("rtsp", "file"), default="rtsp")
    args = parser.parse_args()
    if not CLIP.exists():
        sys.exit(f"missing {CLIP}: this benchmark needs ../shared/assets")
    if args.source == "rtsp":
        sys.path.insert(0, str(REPO))
        from tests.edge.video.rtsp import RtspServer

        with (
            tempfile.TemporaryDirectory() as tmp,
            RtspServer({"plaza": f"file:{CLIP}"}, Path(tmp) / "rtsp.log") as rtsp,
        ):
            figures = run(args.detect_fps, not args.no_motion_gating, rtsp_url=rtsp.url("plaza"))
    else:
        figures = run(args.detect_fps, not args.no_motion_gating)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"source: {args.source}")
    print(
        f"frames analysed {figures['frames']:.0f} at {args.detect_fps} fps, inferences {figures['inferences']:.0f}"
        f" ({figures['region_inferences']:.0f} on a region)"
        f" (motion gating skipped {figures['skipped']:.0f}; ground-truth boxes in skipped frames"
        f" {figures['gt_boxes_in_skipped_frames']:.0f}), {figures['seconds']:.1f} s"
    )
    print(
        f"events: true {figures['true_events']:.0f}, alerts {figures['alerts']:.0f};"
        f" detection recall {figures['det_recall']:.3f} precision {figures['det_precision']:.3f}"
    )
    print(
        "tracking (TrackEval): "
        + " ".join(f"{k.upper()} {figures[k]:.3f}" for k in ("hota", "deta", "assa", "mota", "idf1"))
        + f", ID switches {figures['idsw']:.0f}; our own IDF1 {figures['idf1_own']:.3f}"
    )
    print(
        "per rule kind: "
        + ", ".join(
            f"{kind} {figures[kind + '_precision']:.2f}/{figures[kind + '_recall']:.2f}"
            for kind in ("zone", "line", "loiter", "crowd")
        )
        + " (precision/recall)"
    )
    print(
        f"precision={figures['precision']:.3f} recall={figures['recall']:.3f} idf1={figures['idf1']:.3f}"
        f" hota={figures['hota']:.3f} idsw={figures['idsw']:.0f} mota={figures['mota']:.3f}"
        f" det_recall={figures['det_recall']:.3f} det_precision={figures['det_precision']:.3f}"
    )


if __name__ == "__main__":
    main()
