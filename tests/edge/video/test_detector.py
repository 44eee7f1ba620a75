"""The detector on real frames (YOLOX-Nano and OpenCV HOG against the PETS ground truth) and every way a model
file can be wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.video_accuracy import load_ground_truth
from tests.support import asset
from wangge.edge.video.detector import HogDetector, OnnxDetector, build_detector
from wangge.models.manifests import ModelError, load_manifest, sha256_of


def first_frame_and_truth() -> tuple[np.ndarray, list[list[float]]]:
    capture = cv2.VideoCapture(str(asset("video/vtest.avi")))
    ok, frame = capture.read()
    assert ok
    # Ground truth in pixels: a 1 x 1 "frame" leaves the boxes as they are.
    truth = [list(p.box) for p in load_ground_truth(asset("ground_truth/pets09_s2l1_gt.txt"), 1, 1)[0]]
    return frame, truth


def best_iou(box: list[float], boxes: np.ndarray) -> float:
    best = 0.0
    for other in boxes:
        w = min(box[2], other[2]) - max(box[0], other[0])
        h = min(box[3], other[3]) - max(box[1], other[1])
        if w > 0 and h > 0:
            inter = w * h
            union = (box[2] - box[0]) * (box[3] - box[1]) + (other[2] - other[0]) * (other[3] - other[1]) - inter
            best = max(best, inter / union)
    return best


def test_the_shipped_manifest_matches_the_model_we_have() -> None:
    manifest = load_manifest("yolox_nano")
    path = asset("models/yolox_nano/yolox_nano.onnx")
    assert manifest.sha256 == sha256_of(path)
    assert manifest.labels == asset("models/yolox_nano/coco80_labels.txt").read_text().split("\n")[:80]
    assert (manifest.input.width, manifest.input.height, manifest.layout) == (416, 416, "yolox")


def test_yolox_finds_the_people_the_ground_truth_has() -> None:
    detector = build_detector("yolox_nano", asset("models/yolox_nano"))
    assert isinstance(detector, OnnxDetector)
    frame, truth = first_frame_and_truth()
    [dets] = detector.detect([frame])
    people = dets.xyxy[dets.class_id == 0]
    assert all(best_iou(t, people) >= 0.5 for t in truth), (truth, people)


def test_without_the_model_file_hog_keeps_the_box_useful(tmp_path: Path) -> None:
    detector = build_detector("yolox_nano", tmp_path)  # no file there
    assert isinstance(detector, HogDetector)
    frame, truth = first_frame_and_truth()
    [dets] = detector.detect([frame])
    assert set(dets.class_id) <= {0} and detector.labels == ["person"]
    assert sum(best_iou(t, dets.xyxy) >= 0.5 for t in truth) >= 2  # slower and weaker than YOLOX, but useful


def test_a_file_with_the_wrong_checksum_is_refused_with_both_hashes(tmp_path: Path) -> None:
    (tmp_path / "yolox_nano.onnx").write_bytes(b"not the model")
    with pytest.raises(ModelError, match=r"yolox_nano: .* has sha256 [0-9a-f]{12}…, the manifest says 695e750a5d57"):
        build_detector("yolox_nano", tmp_path)


def test_a_damaged_file_whose_manifest_matches_fails_to_load_clearly(tmp_path: Path) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(asset("models/yolox_nano/yolox_nano.onnx").read_bytes()[:100_000])
    manifest = load_manifest("yolox_nano").model_copy(update={"name": "broken", "file": "broken.onnx"})
    manifest = manifest.model_copy(update={"sha256": sha256_of(model)})
    (tmp_path / "broken.yaml").write_text(manifest.model_dump_json())
    with pytest.raises(ModelError, match=r"model broken: .*broken\.onnx does not load"):
        build_detector("broken", tmp_path)


def test_an_unknown_model_or_a_bad_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no manifest for model 'nope'"):
        build_detector("nope", tmp_path)
    (tmp_path / "odd.yaml").write_text("name: odd\nlayout: yolo9000\n")
    with pytest.raises(ModelError, match="manifest for model 'odd' is invalid"):
        build_detector("odd", tmp_path)


def test_batching_gives_the_same_boxes_as_one_by_one(tmp_path: Path) -> None:
    frame, _ = first_frame_and_truth()
    shutil.copy(asset("models/yolox_nano/yolox_nano.onnx"), tmp_path / "yolox_nano.onnx")
    detector = build_detector("yolox_nano", tmp_path)
    flipped = frame[:, ::-1].copy()
    one, other = detector.detect([frame])[0], detector.detect([flipped])[0]
    both = detector.detect([frame, flipped])
    assert np.allclose(both[0].xyxy, one.xyxy, atol=0.01) and np.allclose(both[1].xyxy, other.xyxy, atol=0.01)
