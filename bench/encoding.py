"""``python -m bench.encoding``: milliseconds to encode a 1024x1024 output image as WebP at
each libwebp effort (``method``), its size and its PSNR against the original, beside JPEG
and PNG; the image is a FLUX-sized photo stand-in (smooth gradients and grain), since
encoding time depends on the content's detail, not on where it came from.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np
from PIL import Image

from replicast.imaging import JPEG_OPTIMIZE, PNG_LEVEL, WEBP_METHOD


def photo(size: int = 1024, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    axis = np.linspace(0, 1, size)
    base = np.outer(np.sin(axis * 7), np.cos(axis * 5)) * 127 + 128
    rgb = np.stack([base, np.roll(base, size // 10, 0), np.roll(base, size // 5, 1)], -1)
    return Image.fromarray(np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return 10 * np.log10(255**2 / mse)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encoding", description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quality", type=int, default=80)
    args = parser.parse_args()
    image = photo()
    original = np.asarray(image)
    rows = []
    settings: list[tuple[str, dict[str, object]]] = [
        (f"webp method={m}" + (" (used)" if m == WEBP_METHOD else ""),
         {"format": "WEBP", "quality": args.quality, "method": m}) for m in (6, 4, 2, 1, 0)]
    settings += [
        ("jpg, optimized Huffman tables" + (" (used)" if JPEG_OPTIMIZE else ""),
         {"format": "JPEG", "quality": args.quality, "optimize": True}),
        ("jpg" + ("" if JPEG_OPTIMIZE else " (used)"),
         {"format": "JPEG", "quality": args.quality}),
        ("png, optimized (zlib level 9 and filter search)",
         {"format": "PNG", "optimize": True}),
        *((f"png, zlib level {level}" + (" (used)" if level == PNG_LEVEL else ""),
           {"format": "PNG", "compress_level": level}) for level in (6, 3, 1)),
    ]
    for label, options in settings:
        times = []
        for _ in range(args.runs):
            buffer = io.BytesIO()
            began = time.perf_counter()
            image.save(buffer, **options)  # type: ignore[arg-type]
            times.append(time.perf_counter() - began)
        back = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        quality = "lossless" if options["format"] == "PNG" else f"{psnr(original, back):.2f}"
        rows.append((label, f"{statistics.median(times) * 1000:.1f}",
                     f"{len(buffer.getvalue()) // 1024}", quality))
    print(f"1024x1024, quality {args.quality}, median of {args.runs} runs, one thread")
    print("| encoding | ms | KiB | PSNR (dB) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
