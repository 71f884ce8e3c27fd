"""Images in and out: safe decoding of input images, encoding of output images.

Both are CPU work; callers run them on a thread, never on the event loop.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from replicast.errors import ModelError

INPUT_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}
FORMATS = {"webp": "WEBP", "jpg": "JPEG", "png": "PNG"}


def decode_image(data: bytes, *, max_pixels: int, what: str = "input image") -> Image.Image:
    """An RGB image from ``data``; ``ModelError`` for anything corrupt, exotic or huge."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in INPUT_FORMATS:
                raise ModelError(
                    f"The {what} is {image.format or 'not an image'}; use JPEG, PNG, GIF or WebP"
                )
            width, height = image.size
            if width * height > max_pixels:
                raise ModelError(
                    f"The {what} is {width}x{height} pixels, over the limit of {max_pixels}"
                )
            image.load()
            return image.convert("RGB")
    except ModelError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ModelError(f"The {what} could not be read as an image: {exc}") from exc


# The rule: at the ``output_quality`` asked for, the fastest settings whose pixels are as
# good as the default's (``python -m bench.encoding --quality 50|80|95``; docs/benchmarks.md).
WEBP_METHOD = 0
"""libwebp's effort (0 to 6): 0 encodes a 1024x1024 image 3.4 to 3.6 times faster than
Pillow's default 4 at the same ``quality``, within 0.15 dB of its PSNR at quality 50 to 95."""
PNG_LEVEL = 6
"""zlib's level for PNG (lossless at every level): Pillow's default; 1 and 3 were no faster
beyond noise on a photo-like image, and larger."""
JPEG_OPTIMIZE = False
"""Whether JPEG's Huffman tables are fitted to the image: the same pixels, 4 to 20 % smaller,
but 2.3 to 2.6 times the time to encode."""


def encode_image(image: Image.Image, output_format: str, quality: int) -> bytes:
    """``image`` as ``webp``, ``jpg`` or ``png`` bytes, at the quality Replicate's FLUX
    models save them with."""
    buffer = io.BytesIO()
    kind = FORMATS[output_format]
    if kind == "PNG":
        image.save(buffer, format=kind, compress_level=PNG_LEVEL)
    elif kind == "WEBP":
        image.save(buffer, format=kind, quality=quality, method=WEBP_METHOD)
    else:
        image.save(buffer, format=kind, quality=quality, optimize=JPEG_OPTIMIZE)
    return buffer.getvalue()
