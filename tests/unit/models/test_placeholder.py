"""The stand-ins' pictures: the caption band, its text, and what references show."""

import pytest
from PIL import Image, ImageDraw, ImageFont

from replicast.models import placeholder
from replicast.models.placeholder import BAND_COLOUR, band_height, picture

LONG = ("a lighthouse on a cliff at dusk, waves breaking below, gulls in the wind, "
        "painted in oils with thick strokes of ochre and teal " * 6)


def band_edges(image):
    """The band's right column and bottom row: text that reaches them is cut off."""
    band = band_height(image.height)
    right = [image.getpixel((image.width - 1, y)) for y in range(band)]
    bottom = [image.getpixel((x, band - 1)) for x in range(image.width)]
    return right + bottom


@pytest.mark.parametrize("size", [(256, 256), (2048, 880), (320, 768), (1024, 1024)])
@pytest.mark.parametrize("text", ["a boat", LONG, "x" * 400])
def test_the_caption_stays_on_its_band(size, text):
    image = picture(*size, "key", title="Replicast stand-in for flux-2-pro", text=text)
    assert set(band_edges(image)) == {BAND_COLOUR}
    plain = picture(*size, "key")
    below = (0, band_height(size[1]), *size)
    assert image.crop(below).tobytes() == plain.crop(below).tobytes()
    band = image.crop((0, 0, size[0], band_height(size[1])))
    assert len(band.getcolors(1 << 24)) > 1  # something is written on it


def test_the_text_is_wrapped_to_the_width_and_shortened_with_an_ellipsis():
    font = ImageFont.load_default(size=12)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = placeholder._wrap(draw, LONG + " " + "y" * 300, font, 200)
    assert len(lines) > 10 and all(draw.textlength(line, font=font) <= 200 for line in lines)
    assert "".join(lines).replace(" ", "") == (LONG + "y" * 300).replace(" ", "")
    short = placeholder._shortened(draw, lines[0], font, 60)
    assert short.endswith("…") and draw.textlength(short, font=font) <= 60


def test_a_small_picture_gets_a_smaller_font_than_a_large_one(monkeypatch):
    sizes = []
    real = ImageFont.load_default

    def spy(size):
        sizes.append(size)
        return real(size=size)

    monkeypatch.setattr(placeholder.ImageFont, "load_default", spy)
    picture(256, 256, "k", title="t", text="a boat")
    small = sizes[-1]
    picture(1536, 1536, "k", title="t", text="a boat")
    assert placeholder.SMALLEST_FONT <= small < sizes[-1]


def old_output(width, height, band_colour):
    """A picture like a stand-in's own: a band of ``band_colour`` over a green field."""
    image = Image.new("RGB", (width, height), (0, 200, 0))
    image.paste(band_colour, (0, 0, width, band_height(height)))
    return image


@pytest.mark.parametrize("old,new", [((256, 256), (2048, 2048)), ((1024, 576), (512, 512)),
                                     ((300, 900), (1360, 768))])
def test_an_old_caption_under_a_reference_never_shows(old, new):
    with_band = picture(*new, "k", [old_output(*old, (255, 0, 255))], title="t", text="p")
    without = picture(*new, "k", [old_output(*old, (0, 200, 0))], title="t", text="p")
    assert with_band.tobytes() == without.tobytes()


def test_a_stand_ins_own_output_fed_back_shows_no_old_caption():
    first = picture(640, 480, "first", title="Replicast stand-in", text=LONG)
    painted = first.copy()
    painted.paste((255, 0, 255), (0, 0, 640, band_height(480)))
    again = picture(1024, 768, "second", [first], title="Replicast stand-in", text="more")
    control = picture(1024, 768, "second", [painted], title="Replicast stand-in", text="more")
    assert again.tobytes() == control.tobytes()
