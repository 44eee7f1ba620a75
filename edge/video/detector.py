"""The object detector behind one interface: ONNX Runtime (YOLOX or YOLOv8/11 layout, from the manifest) or,
with no model file present, OpenCV's built-in HOG person detector. One instance is shared by all cameras."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import supervision as sv

from wangge.detectors.video.boxes import Frame, Letterbox, input_size, letterbox
from wangge.detectors.video.decoders import DECODERS
from wangge.models.manifests import ModelError, ModelManifest, load_manifest, locate_weights

log = logging.getLogger(__name__)


class Detector(Protocol):
    name: str
    labels: list[str]

    def detect(self, frames: list[Frame]) -> list[sv.Detections]: ...


class OnnxDetector:
    """One ONNX Runtime session; calls from several camera threads are serialised (the session uses the
    configured intra-op threads), and a batch of frames of one size goes through in one run when the model's
    batch axis is dynamic. A model whose manifest says it runs at any size gets each image at its own aspect ratio
    (`long_side` pixels on its long side, never enlarged) instead of the exported square."""

    def __init__(
        self,
        manifest: ModelManifest,
        path: Path,
        threads: int = 1,
        min_score: float = 0.25,
        long_side: int | None = None,
    ) -> None:
        import onnxruntime as ort

        size = manifest.input
        self.long_side = long_side or size.long_side
        if long_side is not None and not size.any_size:
            raise ModelError(
                f"model {manifest.name}: video.input_long_side is {long_side}, but its manifest does not say the"
                " model runs at any size (input.any_size); leave input_long_side out for this model"
            )
        if self.long_side is not None and self.long_side % size.stride:
            raise ModelError(
                f"model {manifest.name}: video.input_long_side {self.long_side} is not a multiple of the model's"
                f" stride {size.stride}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            graph = _any_size_graph(path) if self.long_side else path.read_bytes()
            self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnx and onnxruntime raise their own exception types for a damaged file
            raise ModelError(f"model {manifest.name}: {path} does not load: {str(exc)[:300]}") from None
        first = self._session.get_inputs()[0]
        self._input = first.name
        self._batchable = not isinstance(first.shape[0], int)
        self.manifest = manifest
        self.name = manifest.name
        self.labels = manifest.labels
        self.min_score = min_score
        self._decode = DECODERS[manifest.layout]
        self._lock = threading.Lock()
        self.inferences = 0
        if self.long_side:
            self._probe(path, self.long_side)

    def _probe(self, path: Path, side: int) -> None:
        """One run at a 2:1 input before any camera relies on it: a graph that fixes its size inside (a constant
        reshape) fails here, at start, naming the model, and not on every frame."""
        frame = np.zeros((side // 2, side, 3), dtype=np.uint8)
        try:
            self.detect([frame])
        except Exception as exc:  # whatever the graph or the decoder raised
            width, height = self.input_for(frame)
            raise ModelError(
                f"model {self.name}: {path} does not run at {width}x{height}, though its manifest says any_size:"
                f" {str(exc)[:300]}"
            ) from None
        self.inferences = 0

    def input_for(self, frame: Frame) -> tuple[int, int]:
        """The model input (width, height) this frame goes in at."""
        size = self.manifest.input
        if self.long_side is None:
            return size.width, size.height
        return input_size(frame.shape[1], frame.shape[0], self.long_side, size.stride)

    def _prepare(self, frame: Frame) -> tuple[np.ndarray, Letterbox, tuple[int, int]]:
        size = self.manifest.input
        width, height = self.input_for(frame)
        image, box = letterbox(frame, width, height, size.letterbox == "centre", size.fill)
        blob = image.transpose(2, 0, 1).astype(np.float32)
        if self.manifest.layout == "yolov8":
            blob = blob[::-1] / 255.0  # Ultralytics exports take RGB in 0..1
        return blob, box, (width, height)

    def detect(self, frames: list[Frame]) -> list[sv.Detections]:
        if not frames:
            return []
        prepared = [self._prepare(f) for f in frames]
        same_input: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, (_, _, shape) in enumerate(prepared):
            same_input[shape].append(index)
        outputs: dict[int, np.ndarray] = {}
        with self._lock:
            for indices in same_input.values():
                if self._batchable and len(indices) > 1:
                    batch = np.stack([prepared[i][0] for i in indices])
                    result = self._session.run(None, {self._input: batch})[0]
                    outputs.update((i, result[k : k + 1]) for k, i in enumerate(indices))
                else:
                    for i in indices:
                        outputs[i] = self._session.run(None, {self._input: prepared[i][0][None]})[0]
            self.inferences += len(frames)
        return [
            self._decode(outputs[i], box, width, height, min_score=self.min_score)
            for i, (_, box, (width, height)) in enumerate(prepared)
        ]


def _any_size_graph(path: Path) -> bytes:
    """The model with its input's height and width, and its outputs' sizes, left open: an export fixes them
    (YOLOX's at 416 × 416), though a fully convolutional network runs at any multiple of its stride. The recorded
    shapes of the graph's inner values are dropped with them; ONNX Runtime infers them again for each size."""
    import onnx

    model = onnx.load_model_from_string(path.read_bytes())
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ValueError(f"the input has {len(dims)} axes, not N, C, H, W")
    for axis, name in ((2, "height"), (3, "width")):
        dims[axis].dim_param = name  # replaces dim_value: the two are one field's alternatives
    for output in model.graph.output:
        for axis, dim in enumerate(output.type.tensor_type.shape.dim):
            if axis > 0:
                dim.dim_param = f"{output.name}_{axis}"
    del model.graph.value_info[:]
    return bytes(model.SerializeToString())


class HogDetector:
    """OpenCV's built-in people detector: no model file needed, persons only, slower and less accurate."""

    def __init__(self, min_score: float = 0.3) -> None:
        self.name = "opencv-hog-person"
        self.labels = ["person"]
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))
        self._lock = threading.Lock()
        self.min_score = min_score
        self.inferences = 0

    def detect(self, frames: list[Frame]) -> list[sv.Detections]:
        out = []
        for frame in frames:
            # The window is 64x128 pixels: people smaller than that (most of a 576-line view) need the frame
            # enlarged; the window also has a margin around the person, which the box should not keep.
            factor = 1.5 if frame.shape[0] < 720 else 1.0
            image = cv2.resize(frame, None, fx=factor, fy=factor) if factor != 1.0 else frame
            with self._lock:
                found, weights = self._hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
                self.inferences += 1
            rects = np.asarray(found, dtype=np.float32).reshape(-1, 4) / factor
            rects[:, 0] += rects[:, 2] * 0.125
            rects[:, 1] += rects[:, 3] * 0.125
            rects[:, 2:] *= 0.75
            scores = np.asarray(weights, dtype=np.float32).reshape(-1)
            keep = scores >= self.min_score
            rects, scores = rects[keep], scores[keep]
            xyxy = np.column_stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]])
            chosen = cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), 0.0, 0.4) if len(rects) else []
            idx = np.asarray(chosen, dtype=np.int64).reshape(-1)
            out.append(
                sv.Detections(
                    xyxy=xyxy[idx].reshape(-1, 4),
                    confidence=np.minimum(scores[idx], 1.0),
                    class_id=np.zeros(len(idx), dtype=int),
                )
            )
        return out


def build_detector(
    model: str | None, model_dir: Path, threads: int = 1, min_score: float = 0.25, long_side: int | None = None
) -> Detector:
    """The configured model if its file is present (verified), else HOG. A present but bad file is an error.
    `long_side` overrides the manifest's input size for a model that runs at any size (HOG ignores it)."""
    if model is None:
        return HogDetector()
    manifest = load_manifest(model, [model_dir])
    path = locate_weights(manifest, model_dir)
    if path is None:
        log.warning("model %s: %s not found in %s; using OpenCV's HOG person detector", model, manifest.file, model_dir)
        return HogDetector()
    return OnnxDetector(manifest, path, threads, min_score, long_side)
