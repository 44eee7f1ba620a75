"""The detector on real frames (YOLOX-Nano and OpenCV HOG against the PETS ground truth) and every way a model
file can be wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench.video_accuracy import load_ground_truth
from tests.support import asset
from wangge.edge.video.detector import HogDetector, OnnxDetector, build_detector
from wangge.models.manifests import ModelError, ModelManifest, load_manifest, sha256_of


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
    assert detector.input_for(frame) == (576, 448)  # the manifest's long side, 768 x 576 scaled to it
    [dets] = detector.detect([frame])
    people = dets.xyxy[dets.class_id == 0]
    assert all(best_iou(t, people) >= 0.5 for t in truth), (truth, people)


def test_the_configured_long_side_replaces_the_manifests() -> None:
    detector = build_detector("yolox_nano", asset("models/yolox_nano"), long_side=416)
    assert isinstance(detector, OnnxDetector)
    frame, truth = first_frame_and_truth()
    assert detector.input_for(frame) == (416, 320)
    [dets] = detector.detect([frame])
    assert sum(best_iou(t, dets.xyxy[dets.class_id == 0]) >= 0.5 for t in truth) >= len(truth) - 1


def test_frames_of_different_sizes_in_one_call_each_go_in_at_their_own() -> None:
    detector = build_detector("yolox_nano", asset("models/yolox_nano"))
    assert isinstance(detector, OnnxDetector)
    frame, _ = first_frame_and_truth()
    region = frame[100:500, 200:500].copy()  # 300 x 400: portrait, its own pixels (312 x 416, padded to 320)
    assert detector.input_for(region) == (320, 416)
    together = detector.detect([frame, region, frame])
    alone = [detector.detect([frame])[0], detector.detect([region])[0]]
    assert np.allclose(together[0].xyxy, alone[0].xyxy, atol=0.01)
    assert np.allclose(together[2].xyxy, alone[0].xyxy, atol=0.01)
    assert np.allclose(together[1].xyxy, alone[1].xyxy, atol=0.01)


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


def one_reshape_model(tmp_path: Path, name: str, shape: list[int], any_size: bool = True) -> None:
    """A model of one reshape, [1, 3, 64, 64] to `shape`, in the YOLOv8 layout (4 box values and 2 class scores
    per column), with its manifest: `[1, 6, -1]` runs at any size, `[1, 6, 2048]` only at 64 x 64."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["images", "shape"], ["output"])],
        name,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 6, 2048])],
        [numpy_helper.from_array(np.array(shape, dtype=np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    manifest = ModelManifest.model_validate(
        {
            "name": name,
            "file": path.name,
            "sha256": sha256_of(path),
            "licence": "Apache-2.0",
            "url": "https://example.invalid/",
            "layout": "yolov8",
            "input": {"width": 64, "height": 64, "letterbox": "centre", "any_size": any_size},
            "labels": ["a", "b"],
        }
    )
    (tmp_path / f"{name}.yaml").write_text(manifest.model_dump_json())


def test_a_model_that_runs_at_any_size_is_given_the_frames_aspect(tmp_path: Path) -> None:
    one_reshape_model(tmp_path, "open", [1, 6, -1])
    detector = build_detector("open", tmp_path, long_side=96)
    assert isinstance(detector, OnnxDetector)
    wide = np.zeros((320, 640, 3), dtype=np.uint8)
    assert detector.input_for(wide) == (96, 64)  # 96 x 48, the short side padded to two strides
    detector.detect([wide])  # at 96 x 64, though the file's graph says 64 x 64
    assert detector.inferences == 1  # the probe at load is not counted
    fixed = build_detector("open", tmp_path)  # no long side anywhere: the exported 64 x 64
    assert isinstance(fixed, OnnxDetector) and fixed.input_for(wide) == (64, 64)


def test_a_graph_that_fixes_its_size_inside_is_refused_at_load(tmp_path: Path) -> None:
    one_reshape_model(tmp_path, "shut", [1, 6, 2048])
    assert isinstance(build_detector("shut", tmp_path), OnnxDetector)  # at its own size it runs
    with pytest.raises(ModelError, match=r"model shut: .*shut\.onnx does not run at 96x64, though its manifest"):
        build_detector("shut", tmp_path, long_side=96)


def test_a_long_side_the_model_cannot_take_is_named(tmp_path: Path) -> None:
    one_reshape_model(tmp_path, "square", [1, 6, -1], any_size=False)
    with pytest.raises(ModelError, match=r"model square: video.input_long_side is 96, but its manifest does not"):
        build_detector("square", tmp_path, long_side=96)
    with pytest.raises(ModelError, match=r"input_long_side 100 is not a multiple of the model's stride 32"):
        build_detector("yolox_nano", asset("models/yolox_nano"), long_side=100)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"long_side": 576, "any_size": False}, "long_side needs any_size: true"),
        ({"long_side": 600, "any_size": True}, "long_side 600 is not a multiple of the stride 32"),
        ({"stride": 0}, "input.stride"),
    ],
)
def test_a_manifests_input_size_mistake_is_named(tmp_path: Path, change: dict[str, object], expected: str) -> None:
    manifest = load_manifest("yolox_nano").model_dump(mode="json")
    manifest["input"] = {"width": 416, "height": 416} | change
    (tmp_path / "odd.yaml").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=f"(?s)manifest for model 'odd' is invalid: .*{expected}"):
        load_manifest("odd", [tmp_path])
