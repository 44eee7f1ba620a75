"""Motion gating and the output decoders, on frames and tensors made here."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import supervision as sv
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wangge.detectors.video.analyzer import CameraAnalyzer
from wangge.detectors.video.boxes import ClassFilter, DetectionFilter, input_size, letterbox
from wangge.detectors.video.decoders import decode_yolov8, decode_yolox
from wangge.detectors.video.motion import MotionDetector, MotionSettings, small_grey
from wangge.detectors.video.rules import CrowdRule, VideoRule, ZoneRule


def scene(square_at: int | None = None, brightness: int = 90) -> np.ndarray:
    frame = np.full((360, 640, 3), brightness, dtype=np.uint8)
    frame[300:, :] = brightness + 40  # a pavement
    if square_at is not None:
        frame[100:180, square_at : square_at + 60] = 250
    return frame


def test_motion_finds_what_moved_and_ignores_masks_and_lighting() -> None:
    motion = MotionDetector(MotionSettings(masks=[[(0.0, 0.0), (0.25, 0.0), (0.25, 1.0), (0.0, 1.0)]]))
    assert motion.detect(scene()) == []  # the first frame is the background
    assert motion.detect(scene()) == []  # nothing changed
    [(x1, y1, x2, y2)] = motion.detect(scene(square_at=400))
    assert 0.58 < x1 < 0.64 and 0.68 < x2 < 0.75 and 0.22 < y1 < 0.3 and 0.45 < y2 < 0.55
    fresh = MotionDetector(MotionSettings(masks=[[(0.0, 0.0), (0.25, 0.0), (0.25, 1.0), (0.0, 1.0)]]))
    fresh.detect(scene())
    assert fresh.detect(scene(square_at=20)) == []  # inside the mask (a tree, a timestamp)
    lights = MotionDetector()
    lights.detect(scene(brightness=60))
    assert lights.detect(scene(brightness=160)) == []  # the whole view changed: lighting, not motion


def test_the_small_grey_frame_is_the_mean_grey_of_each_block() -> None:
    """576 rows asked for about 120: a factor of 4 (576 / 120 = 4.8, the nearest power of two), each output pixel
    the mean of a 4 x 4 block in ITU-R BT.601 grey, to within the rounding of the two 8-bit steps."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (578, 771, 3), dtype=np.uint8)  # not a multiple of 4: the ragged edge is cut
    blue, green, red = (frame[:576, :768, c].astype(np.float64) for c in range(3))
    grey = 0.299 * red + 0.587 * green + 0.114 * blue
    expected = grey.reshape(144, 4, 192, 4).mean(axis=(1, 3))
    small = small_grey(frame, 120)
    assert small.shape == (144, 192) and small.dtype == np.uint8
    assert np.abs(small.astype(np.float64) - expected).max() <= 1.5
    assert small_grey(frame[:100, :100], 120).shape == (100, 100)  # already small: only made grey


def test_no_motion_and_no_tracks_means_no_inference() -> None:
    calls = []

    def detect(frame: np.ndarray) -> sv.Detections:
        calls.append(frame)
        return sv.Detections.empty()

    analyzer = CameraAnalyzer(["person"], [], fps=5.0)
    for i in range(20):
        analyzer.process(scene(), i / 5, detect)
    assert calls == [] and analyzer.stats.skipped_by_motion == 20
    analyzer.process(scene(square_at=300), 4.0, detect)
    assert len(calls) == 1 and analyzer.stats.inferences == 1


def test_yolox_decoding_puts_the_box_back_in_source_pixels() -> None:
    frame = np.zeros((576, 768, 3), dtype=np.uint8)
    _, box = letterbox(frame, 416, 416)
    assert box.ratio == 416 / 768 and (box.pad_x, box.pad_y) == (0.0, 0.0)
    rows = np.zeros((3549, 85), dtype=np.float32)
    # One stride-8 cell (x 10, y 20) claims a person centred there, 48 x 96 input pixels.
    cell = 20 * 52 + 10
    rows[cell, :4] = [0.5, 0.5, np.log(48 / 8), np.log(96 / 8)]
    rows[cell, 4], rows[cell, 5] = 0.9, 0.8
    dets = decode_yolox(rows[None], box, 416, 416)
    assert list(dets.class_id) == [0] and abs(float(dets.confidence[0]) - 0.72) < 1e-6
    cx, cy = (10 + 0.5) * 8, (20 + 0.5) * 8
    expected = np.array([cx - 24, cy - 48, cx + 24, cy + 48]) / box.ratio
    assert np.allclose(dets.xyxy[0], expected, atol=1e-3)


@pytest.mark.parametrize(
    ("width", "height", "long_side", "expected"),
    [
        (768, 576, 576, (576, 448)),  # PETS: 432 lines scaled, padded to 14 strides
        (768, 576, 416, (416, 320)),  # 312 lines
        (576, 768, 576, (448, 576)),  # portrait
        (1920, 1080, 640, (640, 384)),  # 360 lines
        (1280, 720, 576, (576, 352)),  # 324 lines
        (640, 640, 416, (416, 416)),
        (300, 200, 576, (320, 224)),  # smaller than the long side: not enlarged, 300 x 200 padded to strides
        (416, 416, 576, (416, 416)),  # a region around motion at its own pixels
    ],
)
def test_the_model_input_keeps_the_frames_aspect(
    width: int, height: int, long_side: int, expected: tuple[int, int]
) -> None:
    assert input_size(width, height, long_side, 32) == expected


@given(
    st.integers(16, 8000),
    st.integers(16, 8000),
    st.sampled_from([8, 16, 32, 64]),
    st.integers(1, 40),
)
def test_any_frame_fits_its_input_whole_with_less_than_a_stride_of_padding(
    width: int, height: int, stride: int, strides: int
) -> None:
    long_side = stride * strides
    in_w, in_h = input_size(width, height, long_side, stride)
    own = (max(width, height) + stride - 1) // stride * stride  # the image's long side, to the next stride
    assert in_w % stride == 0 and in_h % stride == 0 and max(in_w, in_h) == min(long_side, own)
    frame = np.zeros((min(height, 600), min(width, 600), 3), dtype=np.uint8)
    # Exactly, in fractions: the scaled frame fits, and the padding on each side is less than a stride.
    scale = Fraction(min(long_side, own), max(width, height))
    for side, model_side in ((width, in_w), (height, in_h)):
        assert 0 <= model_side - side * scale < stride
    image, box = letterbox(frame, *input_size(frame.shape[1], frame.shape[0], long_side, stride))
    frame_own = (max(frame.shape[:2]) + stride - 1) // stride * stride
    assert box.ratio == pytest.approx(min(long_side, frame_own) / max(frame.shape[:2]))
    assert image.shape[:2] == input_size(frame.shape[1], frame.shape[0], long_side, stride)[::-1]


def test_yolox_decoding_at_a_rectangular_input() -> None:
    frame = np.zeros((576, 768, 3), dtype=np.uint8)
    _, box = letterbox(frame, 576, 448)
    assert box.ratio == 0.75
    # 576 x 448: 72 x 56 stride-8 cells, then 36 x 28, then 18 x 14 (4032 + 1008 + 252 rows).
    rows = np.zeros((5292, 85), dtype=np.float32)
    cell = 4032 + 10 * 36 + 30  # stride 16, x 30, y 10
    rows[cell, :4] = [0.0, 0.0, np.log(2.0), np.log(4.0)]  # 32 x 64 input pixels
    rows[cell, 4], rows[cell, 5] = 1.0, 0.9
    [x1, y1, x2, y2] = decode_yolox(rows[None], box, 576, 448).xyxy[0]
    assert np.allclose([x1, y1, x2, y2], np.array([480 - 16, 160 - 32, 480 + 16, 160 + 32]) / 0.75, atol=1e-3)
    with pytest.raises(ValueError, match="YOLOX output has 5292 rows; 416x416"):
        decode_yolox(rows[None], box, 416, 416)


@given(st.integers(0, 2**32 - 1), st.floats(0.05, 0.95))
@example(15609, 0.3125)  # two rows of one score
@settings(max_examples=30, deadline=None)
def test_yolox_decoding_keeps_every_row_scoring_enough_and_no_other(seed: int, min_score: float) -> None:
    """Against every one of the 3,549 rows worked out on its own (NMS off: an IoU bound of 1 suppresses nothing)."""
    rng = np.random.default_rng(seed)
    rows = rng.random((3549, 85), dtype=np.float32)
    rows[:, 4:] **= 6  # scores mostly low, as a real frame's are, a few high
    rows[:, :2] -= 0.5
    _, box = letterbox(np.zeros((576, 768, 3), dtype=np.uint8), 416, 416)
    dets = decode_yolox(rows[None], box, 416, 416, min_score=min_score, iou=1.0)
    expected = []
    index = 0
    for stride in (8, 16, 32):
        cells = 416 // stride
        for y in range(cells):
            for x in range(cells):
                row = rows[index]
                index += 1
                scores = row[5:] * row[4]
                best = int(np.argmax(scores))
                if scores[best] >= min_score:
                    cx, cy = (row[0] + x) * stride, (row[1] + y) * stride
                    w, h = np.exp(row[2]) * stride, np.exp(row[3]) * stride
                    box_px = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) / box.ratio
                    expected.append([scores[best], best, *box_px])
    got = np.column_stack([dets.confidence, dets.class_id, dets.xyxy]).reshape(-1, 6)
    want = np.array(expected, dtype=np.float64).reshape(-1, 6)
    assert len(got) == len(want)
    # Highest score first, two rows of one score by class (seed 15609 has such a tie, which sorting by score alone
    # put in either order).
    by_score = np.lexsort((got[:, 1], -got[:, 0])), np.lexsort((want[:, 1], -want[:, 0]))
    assert np.allclose(got[by_score[0]], want[by_score[1]], rtol=1e-5, atol=1e-3)


def test_yolov8_layout_with_centred_letterbox() -> None:
    frame = np.zeros((360, 640, 3), dtype=np.uint8)
    _, box = letterbox(frame, 640, 640, centre=True)
    assert box.ratio == 1.0 and box.pad_y == 140
    out = np.zeros((1, 84, 8400), dtype=np.float32)
    out[0, :4, 5] = [320, 320, 100, 50]  # centre of the padded input
    out[0, 4 + 2, 5] = 0.9  # a car
    out[0, :4, 6] = [322, 321, 100, 50]  # a duplicate NMS removes
    out[0, 4 + 2, 6] = 0.6
    dets = decode_yolov8(out, box, 640, 640)
    assert len(dets) == 1 and list(dets.class_id) == [2]
    assert np.allclose(dets.xyxy[0], [270, 155, 370, 205])


def test_class_filters_drop_implausible_boxes() -> None:
    dets = sv.Detections(
        xyxy=np.array([[0, 0, 20, 60], [0, 0, 600, 350], [0, 0, 60, 20]], dtype=np.float32),
        confidence=np.array([0.9, 0.9, 0.9], dtype=np.float32),
        class_id=np.array([0, 0, 0]),
    )
    person = ClassFilter(min_score=0.5, max_area=0.5, max_aspect=1.0)
    kept = DetectionFilter({0: person}).apply(dets, 640, 360)
    assert kept.xyxy.tolist() == [[0, 0, 20, 60]]  # the frame-sized and the lying-down 'person' are gone


def test_the_detector_sees_a_region_around_motion_and_live_tracks() -> None:
    analyzer = CameraAnalyzer(["person"], [], fps=5.0)
    # Something moves in a small patch of a 1920x1080 view: a 416-pixel square around it, inside the frame.
    x1, y1, x2, y2 = analyzer.region([(0.90, 0.85, 0.93, 0.95)], 1920, 1080)
    assert x2 - x1 >= 416 and y2 - y1 >= 416 and x2 <= 1920 and y2 <= 1080
    assert x1 <= 0.90 * 1920 and y1 <= 0.85 * 1080 and x2 >= 0.93 * 1920 and y2 >= 0.95 * 1080
    assert analyzer.region([], 1920, 1080) == (0, 0, 1920, 1080)  # nothing moves (gating off): the whole frame
    # Motion at both ends of the view: the region would be most of the frame, so the whole frame it is.
    assert analyzer.region([(0.0, 0.1, 0.1, 0.3), (0.9, 0.7, 1.0, 0.9)], 1920, 1080) == (0, 0, 1920, 1080)
    calls: list[tuple[int, int]] = []

    def detect(image: np.ndarray) -> sv.Detections:
        """Finds the bright patch in whatever it is shown, in that image's own pixels."""
        calls.append(image.shape[:2])
        ys, xs = np.nonzero(image[:, :, 0] == 250)
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]] if len(xs) else np.zeros((0, 4))
        return sv.Detections(
            xyxy=np.array(box, dtype=np.float32),
            confidence=np.full(len(box), 0.9, dtype=np.float32),
            class_id=np.zeros(len(box), dtype=int),
        )

    big = np.full((1080, 1920, 3), 90, dtype=np.uint8)
    analyzer.process(big, 0.0, detect)
    moved = big.copy()
    moved[900:1000, 1700:1760] = 250
    result = analyzer.process(moved, 0.2, detect)
    assert calls == [(416, 416)] and result.inferred  # a crop
    for i in range(3):  # seen again: the tracker confirms it (three frames), in whole-frame coordinates
        result = analyzer.process(moved, 0.4 + 0.2 * i, detect)
    [obj] = result.objects
    assert obj.box == pytest.approx((1700 / 1920, 900 / 1080, 1760 / 1920, 1000 / 1080), abs=0.005)


def test_tracking_goes_on_when_the_clock_steps_back() -> None:
    """The edge's frame times are wall-clock: an NTP step back by an hour must not stop tracking until the
    clock catches up (the tracker skips frames older than the last one it saw)."""
    analyzer = CameraAnalyzer(["person"], [], fps=5.0, motion_gating=False, regions=False)

    def detect(image: np.ndarray) -> sv.Detections:
        return sv.Detections(
            xyxy=np.array([[100, 100, 140, 200]], dtype=np.float32),
            confidence=np.array([0.9], dtype=np.float32),
            class_id=np.array([0]),
        )

    frame = np.full((480, 640, 3), 90, dtype=np.uint8)
    ids = []
    for at in (3600.0, 3600.2, 3600.4, 0.6, 0.8, 1.0):
        result = analyzer.process(frame, at, detect)
        ids.append([o.track_id for o in result.objects])
    assert ids[1] and ids[-1] == ids[-2] == ids[-3] == ids[2]  # the same track before and after the step


def test_a_crowd_counts_people_the_tracker_has_not_confirmed() -> None:
    """Three people detected at 0.6 on every frame: below the 0.8 a track starts from, so no tracks and no zone
    alert, but three people all the same for the crowd rule; the 0.3 one (under `count_min_score`) is not one."""
    polygon = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    rules: list[VideoRule] = [
        ZoneRule("zone", polygon, frozenset({"person"}), inertia=1),
        CrowdRule("crowd", polygon, frozenset({"person"}), min_count=3, seconds=1.0),
    ]
    analyzer = CameraAnalyzer(["person"], rules, fps=5.0, motion_gating=False, regions=False)
    boxes = [[100, 100, 140, 200], [200, 100, 240, 200], [300, 100, 340, 200], [400, 100, 440, 200]]

    def detect(image: np.ndarray) -> sv.Detections:
        return sv.Detections(
            xyxy=np.array(boxes, dtype=np.float32),
            confidence=np.array([0.6, 0.6, 0.6, 0.3], dtype=np.float32),
            class_id=np.zeros(4, dtype=int),
        )

    frame = np.full((480, 640, 3), 90, dtype=np.uint8)
    events = []
    for i in range(8):
        result = analyzer.process(frame, i * 0.2, detect)
        assert result.objects == []
        events.extend(result.events)
    [start] = events
    assert (start.rule_id, start.kind, start.at, start.detail["count"]) == ("crowd", "start", 1.0, 3)
    assert start.track_ids == (-3, -2, -1)  # no identities: numbered below zero


def test_a_track_missed_while_it_moves_is_found_again_by_a_slight_overlap() -> None:
    """A person standing at x 300-328 (a 28 × 72 box, as on PETS S2L1) is missed for a second and found 24 pixels
    on. The track's prediction stayed where it last stood, and the new box overlaps it by 4 / 52 = 0.077 of their
    union: the same track, where a matching floor of 0.1 would have started a new one."""
    analyzer = CameraAnalyzer(["person"], [], fps=5.0, motion_gating=False, regions=False)
    seen: list[list[float]] = [[300, 200, 328, 272]]

    def detect(image: np.ndarray) -> sv.Detections:
        return sv.Detections(
            xyxy=np.array(seen, dtype=np.float32).reshape(-1, 4),
            confidence=np.full(len(seen), 0.9, dtype=np.float32),
            class_id=np.zeros(len(seen), dtype=int),
        )

    frame = np.full((576, 768, 3), 90, dtype=np.uint8)
    before = [analyzer.process(frame, i * 0.2, detect).objects for i in range(10)]
    seen.clear()
    for i in range(10, 15):  # a second unseen
        assert analyzer.process(frame, i * 0.2, detect).objects == []
    seen.append([324, 200, 352, 272])
    after = [analyzer.process(frame, i * 0.2, detect).objects for i in range(15, 18)]
    assert {o.track_id for o in before[-1]} == {o.track_id for objects in after for o in objects}
    assert all(len(objects) == 1 for objects in after)
