"""Outputs produced item by item: tokens, files, async generators."""

import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator

from replicast import AsyncConcatenateIterator, BasePredictor, ConcatenateIterator, Input, Path


class Tokens(BasePredictor):
    def predict(self, prompt: str = "one two three",
                delay: float = Input(default=0.0, ge=0, le=5)) -> ConcatenateIterator[str]:
        for number, word in enumerate(prompt.split()):
            print(f"token {number}")
            yield word if number == 0 else " " + word
            time.sleep(delay)


class Frames(BasePredictor):
    def predict(self, count: int = 3) -> Iterator[Path]:
        folder = Path(tempfile.mkdtemp())
        for number in range(count):
            path = folder / f"frame-{number}.txt"
            path.write_text(f"frame {number}")
            yield path


class AsyncTokens(BasePredictor):
    async def setup(self) -> None:
        await asyncio.sleep(0.01)
        self.suffix = "!"

    async def predict(self, prompt: str = "a b c",
                      delay: float = 0.0) -> AsyncConcatenateIterator[str]:
        for word in prompt.split():
            await asyncio.sleep(delay)
            sys.stderr.write(f"async token {word}\n")
            yield word + self.suffix


class Numbers(BasePredictor):
    async def predict(self, count: int = 3) -> AsyncIterator[int]:
        for number in range(count):
            yield number * number


class Verbatim(BasePredictor):
    """Writes ``text`` to its logs and yields it, as is, then ``after``."""

    def predict(self, text: str) -> ConcatenateIterator[str]:
        sys.stdout.write(text)
        sys.stdout.flush()
        yield text
        yield "after"
