"""One predictor per kind of output."""

import tempfile
import time
from collections.abc import Iterator
from typing import Any

from replicast import BaseModel, BasePredictor, Input, Path


def _file(name: str, text: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / name
    path.write_text(text)
    return path


class Text(BasePredictor):
    def predict(self, prompt: str = "hi") -> str:
        return prompt.upper()


class Number(BasePredictor):
    def predict(self, a: int = 2, b: float = 0.5) -> float:
        return a * b


class Flag(BasePredictor):
    def predict(self, value: int = 3) -> bool:
        return value % 2 == 1


class File(BasePredictor):
    def predict(self, text: str = "file body") -> Path:
        return _file("result.txt", text)


class Files(BasePredictor):
    def predict(self, count: int = Input(default=2, ge=1, le=5)) -> list[Path]:
        return [_file(f"part-{i}.txt", f"part {i}") for i in range(count)]


class Structured(BaseModel):
    caption: str
    score: float
    image: Path


class Object(BasePredictor):
    def predict(self, caption: str = "a cat") -> Structured:
        return Structured(caption=caption, score=0.75, image=_file("cat.txt", caption))


class Anything(BasePredictor):
    def predict(self) -> Any:
        return {"nested": [1, 2.5, "three", None, {"four": True}]}


class SameNames(BasePredictor):
    """Returns files that share a name, and a name that needs quoting in a URL."""

    def predict(self) -> list[Path]:
        return [_file("output.txt", "first"), _file("output.txt", "second"),
                _file("report #1.txt", "third")]


class Big(BasePredictor):
    def predict(self, size: int = 10, huge_int: bool = False) -> Any:
        if huge_int:
            return 2**70
        return "x" * size


class BadItem(BasePredictor):
    """Yields a file that does not exist, then would go on for a long time."""

    def predict(self) -> Iterator[Path]:
        yield Path("/nonexistent/replicast-test/missing.txt")
        time.sleep(3600)
        yield Path("/never")
