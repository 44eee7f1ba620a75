"""The object detector behind one interface: ONNX Runtime (YOLOX or YOLOv8/11 layout, from the manifest) or,
with no model file present, OpenCV's built-in HOG person detector. One instance is shared by all cameras."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import supervision as sv

from wangge.detectors.video.boxes import Frame, letterbox
from wangge.detectors.video.decoders import DECODERS
from wangge.models.manifests import ModelError, ModelManifest, load_manifest, locate_weights

log = logging.getLogger(__name__)


class Detector(Protocol):
    name: str
    labels: list[str]

    def detect(self, frames: list[Frame]) -> list[sv.Detections]: ...


class OnnxDetector:
    """One ONNX Runtime session; calls from several camera threads are serialised (the session uses the
    configured intra-op threads), and a batch of frames goes through in one run when the model's batch axis is
    dynamic."""

    def __init__(self, manifest: ModelManifest, path: Path, threads: int = 1, min_score: float = 0.25) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a damaged file
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

    def _prepare(self, frame: Frame) -> tuple[np.ndarray, object]:
        size = self.manifest.input
        image, box = letterbox(frame, size.width, size.height, size.letterbox == "centre", size.fill)
        blob = image.transpose(2, 0, 1).astype(np.float32)
        if self.manifest.layout == "yolov8":
            blob = blob[::-1] / 255.0  # Ultralytics exports take RGB in 0..1
        return blob, box

    def detect(self, frames: list[Frame]) -> list[sv.Detections]:
        if not frames:
            return []
        prepared = [self._prepare(f) for f in frames]
        size = self.manifest.input
        outputs = []
        with self._lock:
            if self._batchable and len(frames) > 1:
                batch = np.stack([p[0] for p in prepared])
                result = self._session.run(None, {self._input: batch})[0]
                outputs = [result[i : i + 1] for i in range(len(frames))]
            else:
                for blob, _ in prepared:
                    outputs.append(self._session.run(None, {self._input: blob[None]})[0])
            self.inferences += len(frames)
        return [
            self._decode(out, box, size.width, size.height, min_score=self.min_score)
            for out, (_, box) in zip(outputs, prepared, strict=True)
        ]


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


def build_detector(model: str | None, model_dir: Path, threads: int = 1, min_score: float = 0.25) -> Detector:
    """The configured model if its file is present (verified), else HOG. A present but bad file is an error."""
    if model is None:
        return HogDetector()
    manifest = load_manifest(model, [model_dir])
    path = locate_weights(manifest, model_dir)
    if path is None:
        log.warning("model %s: %s not found in %s; using OpenCV's HOG person detector", model, manifest.file, model_dir)
        return HogDetector()
    return OnnxDetector(manifest, path, threads, min_score)
