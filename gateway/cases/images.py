"""What an uploaded photo or snapshot really is: its bytes decoded whole, never the type a client declared.

A file that is not a complete JPEG, PNG or WebP image is refused (a polyglot with HTML after a JPEG header, a
truncated upload, a decompression bomb); what is stored and served is the type found here. Pillow decodes.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_PIXELS = 40_000_000  # a 40-megapixel phone photo; a bomb of a few KB that inflates to gigabytes is not


def image_type(data: bytes) -> str:
    """The media type of `data` after a full decode; ValueError saying why when it is not an image we take."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                kind = FORMATS[str(image.format)]
                if image.width * image.height > MAX_PIXELS:
                    raise ValueError(f"is {image.width}×{image.height} pixels, more than {MAX_PIXELS}")
                image.load()
    except ValueError:
        raise
    except (OSError, SyntaxError, KeyError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ValueError(f"is not a whole JPEG, PNG or WebP image ({type(exc).__name__})") from None
    return kind
