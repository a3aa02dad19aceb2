"""Uploaded images, checked before anything decodes them in full.

The body is read in chunks and refused as soon as it passes the size limit (a 100 MB upload
costs at most the limit in memory). Pillow reads the header first: an image whose declared
size passes ``max_pixels`` (a decompression bomb: a few kB of PNG that would inflate to
gigabytes) is refused before a pixel is decoded; a truncated or corrupt file is refused when
decoding stops short.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import AsyncIterator

import numpy as np
import numpy.typing as npt
from PIL import Image

TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/bmp": "BMP"}


class UploadError(Exception):
    """An upload refused, with the HTTP status to answer (400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_type(content_type: str | None) -> None:
    """Refuse bodies that are not one of :data:`TYPES` (415)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in TYPES:
        raise UploadError(415, f"content type must be one of {', '.join(TYPES)}; got {kind or 'none'}")


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` bytes, whether declared or streamed."""
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise UploadError(400, f"bad Content-Length {declared!r}") from None
        if size > limit:
            raise UploadError(413, f"upload of {size} bytes is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise UploadError(413, f"upload is over the {limit}-byte limit")
    if not body:
        raise UploadError(400, "empty upload: send the image's bytes as the request body")
    return bytes(body)


def decode(data: bytes, content_type: str | None, max_pixels: int) -> npt.NDArray[np.uint8]:
    """The image as ``(H, W, 3)`` BGR pixels.

    Raises:
        UploadError: Not an image of the declared type (400/415), too many pixels (413), or
            truncated or corrupt (400).
    """
    check_type(content_type)
    expected = TYPES[(content_type or "").split(";", 1)[0].strip().lower()]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[expected])
        except Image.DecompressionBombError:
            raise UploadError(413, f"image has more than {max_pixels} pixels") from None
        except Exception:
            raise UploadError(400, f"not a readable {expected} image") from None
        width, height = image.size
        if width * height > max_pixels:
            raise UploadError(413, f"image of {width}x{height} has more than {max_pixels} pixels")
        if width < 8 or height < 8:
            raise UploadError(400, f"image of {width}x{height} is too small to search")
        try:
            image.load()
            rgb = image.convert("RGB")
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise UploadError(413, f"image has more than {max_pixels} pixels") from None
        except Exception as exc:
            raise UploadError(400, f"image is truncated or corrupt: {exc}") from None
    pixels = np.asarray(rgb, np.uint8)
    return np.ascontiguousarray(pixels[:, :, ::-1])
