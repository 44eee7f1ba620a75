"""Snapshots as evidence for a ticket: the full frame with the rule's geometry and the objects' boxes drawn, the
main object enlarged in a corner, faces and heads blurred when the camera says so; kept in a spool until the gateway
has them."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from wangge.detectors.video.boxes import Frame
from wangge.detectors.video.rules import Box, VideoEvent
from wangge.edge.video.spool import UploadSpool

log = logging.getLogger(__name__)

Geometry = dict[str, list[list[list[float]]]]
_FACES: cv2.CascadeClassifier | None = None


def _faces() -> cv2.CascadeClassifier:
    global _FACES
    if _FACES is None:
        _FACES = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))  # type: ignore[attr-defined]
    return _FACES


def blur_people(frame: Frame, boxes: list[Box]) -> Frame:
    """Blur every face OpenCV's cascade finds, and the head of every person box whether or not a face was found
    (a face seen from the side or too small for the cascade is still a face)."""
    out = frame.copy()
    h, w = out.shape[:2]
    regions = [(int(x1 * w), int(y1 * h), int(x2 * w), int(y1 * h + (y2 - y1) * h * 0.22)) for x1, y1, x2, y2 in boxes]
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    for x, y, fw, fh in _faces().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4, minSize=(16, 16)):
        regions.append((int(x), int(y), int(x + fw), int(y + fh)))
    for x1, y1, x2, y2 in regions:
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 - x1 > 1 and y2 - y1 > 1:
            k = max(3, ((x2 - x1) // 3) | 1)
            out[y1:y2, x1:x2] = cv2.GaussianBlur(out[y1:y2, x1:x2], (k, k), 0)
    return out


def render(frame: Frame, event: VideoEvent, geometry: Geometry, blur: bool) -> bytes:
    image = blur_people(frame, list(event.boxes)) if blur else frame.copy()
    h, w = image.shape[:2]

    def px(points: list[list[float]]) -> np.ndarray:
        return np.array([[round(x * w), round(y * h)] for x, y in points], dtype=np.int32)

    for zone in geometry.get("zones", []):
        cv2.polylines(image, [px(zone)], True, (218, 105, 9), 2)
    for line in geometry.get("lines", []):
        cv2.polylines(image, [px(line)], False, (44, 167, 212), 3)
    for x1, y1, x2, y2 in event.boxes:
        cv2.rectangle(image, (round(x1 * w), round(y1 * h)), (round(x2 * w), round(y2 * h)), (47, 36, 209), 2)
    if event.boxes:
        x1, y1, x2, y2 = max(event.boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        crop = image[max(0, round(y1 * h)) : round(y2 * h), max(0, round(x1 * w)) : round(x2 * w)]
        if crop.size:
            scale = min((h * 0.4) / crop.shape[0], (w * 0.3) / crop.shape[1])
            inset = cv2.resize(crop, None, fx=scale, fy=scale)
            ih, iw = inset.shape[:2]
            image[4 : 4 + ih, w - iw - 4 : w - 4] = inset
            cv2.rectangle(image, (w - iw - 5, 3), (w - 3, 5 + ih), (255, 255, 255), 1)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("the snapshot could not be encoded")
    return jpeg.tobytes()


class SnapshotSpool(UploadSpool):
    """Snapshots waiting for the gateway, one file per alert (a better one replaces it)."""

    kind = "snapshot"
    suffix = ".jpg"

    def target(self, path: Path, meta: dict[str, object]) -> tuple[str, str]:
        return f"/api/v1/edges/{self._edge_id}/alerts/{path.stem}/snapshot", "image/jpeg"
