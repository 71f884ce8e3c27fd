"""Every input type and constraint; the output reports what predict() received."""

import os
from typing import Literal, Optional

from replicast import BasePredictor, File, Input, Path, Secret


class Predictor(BasePredictor):
    """Reports its inputs."""

    def predict(
        self,
        text: str = Input(description="Some text", min_length=1, max_length=20),
        count: int = Input(default=2, ge=1, le=10),
        ratio: float = Input(default=0.5, ge=0, le=1),
        flag: bool = False,
        color: str = Input(default="red", choices=["red", "green", "blue"]),
        size: Literal["small", "large"] = "small",
        code: str = Input(default="ab12", regex=r"^[a-z]+[0-9]+$"),
        old: str = Input(default="x", deprecated=True),
        maybe: Optional[str] = Input(default=None, description="May be left out"),
        key: Optional[Secret] = Input(default=None, description="A secret"),
        document: Optional[Path] = Input(default=None, description="A file, read as text"),
        blob: Optional[File] = Input(default=None, description="A file object"),
        words: list[str] = Input(default=["a"], description="A list"),
        documents: Optional[list[Path]] = Input(default=None, description="Several files"),
        keys: Optional[list[Secret]] = Input(default=None, description="Several secrets"),
    ) -> dict:
        return {
            "text": text, "count": count, "ratio": ratio, "flag": flag, "color": color,
            "size": size, "code": code, "old": old, "maybe": maybe,
            "key": None if key is None else key.get_secret_value()[::-1],
            "key_type": type(key).__name__,
            "document": None if document is None else {
                "name": document.name, "text": document.read_text(),
                "type": type(document).__name__, "exists": document.exists(),
                "where": str(document.parent)},
            "blob": None if blob is None else blob.read().decode(),
            "words": words,
            "documents": None if documents is None else [d.read_text() for d in documents],
            "keys": None if keys is None else [k.get_secret_value() for k in keys],
            "ratio_type": type(ratio).__name__,
            "server_token": os.environ.get("REPLICAST_API_TOKEN"),
        }


def _bytes_on_disk(folder: str) -> int:
    """What the files under ``folder`` take, each file (inode) counted once."""
    seen: dict[tuple[int, int], int] = {}
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                stat = os.stat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            seen[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(seen.values())


class Many(BasePredictor):
    """Reports how many files it got, how many distinct ones, and what the temporary
    folder holds meanwhile."""

    def predict(self, documents: list[Path]) -> dict:
        import tempfile

        inodes = {(d.stat().st_dev, d.stat().st_ino) for d in documents}
        return {"count": len(documents), "distinct": len(inodes),
                "temporary_bytes": _bytes_on_disk(tempfile.gettempdir())}
