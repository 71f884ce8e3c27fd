"""Written against the real ``cog`` package, as thousands of models are."""

import tempfile
import time
from typing import Optional

from cog import BasePredictor, ConcatenateIterator, Input, Path, Secret, current_scope


class Predictor(BasePredictor):
    """A Cog predictor."""

    def setup(self) -> None:
        print("cog setup")
        self.greeting = "hello"

    def predict(
        self,
        name: str = Input(description="Who to greet", default="world"),
        times: int = Input(default=1, ge=1, le=3),
        image: Optional[Path] = Input(default=None, description="Any file"),
        token: Optional[Secret] = Input(default=None),
        style: str = Input(default="plain", choices=["plain", "loud"]),
    ) -> Path:
        print(f"greeting {name}")
        self.record_metric("greetings", times)
        current_scope().record_metric("style_" + style, 1)
        text = " ".join([f"{self.greeting} {name}"] * times)
        if style == "loud":
            text = text.upper()
        if image is not None:
            text += f" ({image.stat().st_size} bytes)"
        if token is not None:
            text += f" [{len(token.get_secret_value())}]"
        path = Path(tempfile.mkdtemp()) / "greeting.txt"
        path.write_text(text)
        return path


class Streamer(BasePredictor):
    def predict(self, words: int = 3, delay: float = 0.0) -> ConcatenateIterator[str]:
        for number in range(words):
            time.sleep(delay)
            yield f"w{number} "
