"""The stand-ins' pictures: a colour field, the reference images, a caption band.

A picture is a smooth colour field drawn from a key (the model, the input and the seed),
so the same key gives the same pixels. Reference images are laid side by side in
columns, each stretched to the height below the caption, and blended with the field,
so every one of them shows. The caption (that this is a stand-in, and the prompt) sits
on a solid band across the top fifth, its font scaled and its text wrapped to fit the
picture, however small.

A stand-in's own output may come back as a reference image. Its band would show again
under the new one, so the top of every reference, where such a band would be, is left
out: an old caption is never drawn over, nor shown beside the new one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

BAND = 0.2
"""The share of the picture's height the caption band takes."""
BAND_COLOUR = (20, 20, 24)
TEXT_COLOUR = (255, 255, 255)
REFERENCE_WEIGHT = 0.65
"""How much of the picture below the band the reference images make, against the field."""
SMALLEST_FONT = 8
ELLIPSIS = "…"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def band_height(height: int) -> int:
    """The caption band's height in a picture ``height`` pixels high."""
    return math.ceil(height * BAND)


def picture(width: int, height: int, key: str, references: Sequence[Image.Image] = (),
            title: str = "", text: str = "") -> Image.Image:
    """A ``width`` x ``height`` placeholder drawn from ``key``, showing ``references``,
    captioned with ``title`` and ``text``."""
    rng = random.Random(key)
    grid = Image.new("RGB", (4, 4))
    grid.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                  for _ in range(16)])
    image = grid.resize((width, height), Image.Resampling.BICUBIC)
    band = band_height(height)
    if references and height > band:
        below = (0, band, width, height)
        tiles = _tiles(references, width, height - band)
        image.paste(Image.blend(tiles, image.crop(below), 1 - REFERENCE_WEIGHT), below[:2])
    _caption(image, band, title, text)
    return image


def _tiles(references: Sequence[Image.Image], width: int, height: int) -> Image.Image:
    """The references side by side, each without its top band, filling ``width`` x ``height``."""
    canvas = Image.new("RGB", (width, height))
    count = min(len(references), width)
    for index, reference in enumerate(references[:count]):
        left, right = width * index // count, width * (index + 1) // count
        # Past its band, and a margin for the blur of a resize, so no old caption shows.
        top = min(reference.height - 1, band_height(reference.height)
                  + max(2, math.ceil(reference.height * 0.01)))
        body = reference.crop((0, top, reference.width, reference.height))
        canvas.paste(body.resize((right - left, height), Image.Resampling.BICUBIC), (left, 0))
    return canvas


def _caption(image: Image.Image, band: int, title: str, text: str) -> None:
    """Draw the band and, on it, ``title`` then ``text``, as large as fits."""
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width - 1, band - 1), fill=BAND_COLOUR)
    pad = max(2, band // 12)
    room_w, room_h = image.width - 2 * pad, band - 2 * pad
    size = max(SMALLEST_FONT, min(room_h // 3, image.width // 24))
    while True:
        font = ImageFont.load_default(size=size)
        line_height = _line_height(font)
        fits = max(1, room_h // line_height)
        lines = [*_wrap(draw, title, font, room_w), *_wrap(draw, text, font, room_w)]
        if len(lines) <= fits or size <= SMALLEST_FONT:
            break
        size -= 1
    if len(lines) > fits:
        lines = lines[:fits]
        lines[-1] = _shortened(draw, lines[-1], font, room_w)
    for index, line in enumerate(lines):
        draw.text((pad, pad + index * line_height), line, fill=TEXT_COLOUR, font=font)


def _line_height(font: Font) -> int:
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return ascent + descent + 1
    return 12


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """``text`` in lines no wider than ``width``; a word too long for a line is broken."""
    lines: list[str] = []
    for paragraph in text.splitlines() or ([""] if text else []):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if draw.textlength(candidate, font=font) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for char in word:
                if line and draw.textlength(line + char, font=font) > width:
                    lines.append(line)
                    line = ""
                line += char
        if line:
            lines.append(line)
    return lines


def _shortened(draw: ImageDraw.ImageDraw, line: str, font: Font, width: int) -> str:
    """``line`` ending in an ellipsis, within ``width``."""
    while line and draw.textlength(line + ELLIPSIS, font=font) > width:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS
