"""Real, small images for upload tests, encoded by OpenCV (the gateway decodes every upload whole)."""

from __future__ import annotations

import base64

import cv2
import numpy as np


def image(ext: str = ".jpg", width: int = 32, height: int = 24, shade: int = 90) -> bytes:
    pixels = np.full((height, width, 3), shade, np.uint8)
    pixels[: height // 2, : width // 2] = (30, 160, 220)
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    return bytes(data.tobytes())


def jpeg(shade: int = 90) -> bytes:
    return image(".jpg", shade=shade)


def png_base64() -> str:
    return base64.b64encode(image(".png")).decode()
