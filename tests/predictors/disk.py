"""Predictors that write a lot: for the tests of a full disk."""

import tempfile

from replicast import BasePredictor, Input, Path


class BigFiles(BasePredictor):
    """Returns ``count`` files of ``megabytes`` each (written where temporary files go)."""

    def predict(self, count: int = Input(default=3, ge=1, le=10),
                megabytes: int = Input(default=2, ge=1, le=64)) -> list[Path]:
        folder = Path(tempfile.mkdtemp())
        paths = []
        for index in range(count):
            path = folder / f"part-{index}.bin"
            path.write_bytes(b"\1" * (megabytes << 20))
            paths.append(path)
        return paths
