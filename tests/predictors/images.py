"""A user's predictor whose output is images, sized by plain ``width``/``height`` inputs,
taking as long as it is asked to (for the OpenAI images API's tests)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PIL import Image

from replicast import BasePredictor, Input


class Pictures(BasePredictor):
    def predict(self, prompt: str, width: int = Input(default=64, ge=16, le=512),
                height: int = Input(default=64, ge=16, le=512),
                seconds: float = Input(default=0.0, ge=0, le=60),
                fail: bool = Input(default=False)) -> Path:
        time.sleep(seconds)
        if fail:
            raise ValueError("asked to fail")
        path = Path(tempfile.mkdtemp()) / "out.png"
        Image.new("RGB", (width, height), "green").save(path)
        return path


class Inpaint(BasePredictor):
    """Paints the masked part of an image (white in the mask) blue."""

    def predict(self, prompt: str, image: Path, mask: Path) -> Path:
        with Image.open(image) as source, Image.open(mask) as where:
            painted = source.convert("RGB")
            painted.paste((0, 0, 255), mask=where.convert("L"))
        path = Path(tempfile.mkdtemp()) / "out.png"
        painted.save(path)
        return path
