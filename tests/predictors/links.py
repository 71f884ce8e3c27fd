"""Outputs that hold URLs of the caller's choosing: as text, and where a file is declared."""

from replicast import BasePredictor, Path


class Text(BasePredictor):
    """Returns the links it is given, as text (``list[str]``)."""

    def predict(self, links: list[str]) -> list[str]:
        return links


class Declared(BasePredictor):
    """Returns the link it is given where its schema declares a file (``Path``)."""

    def predict(self, link: str) -> Path:
        return link  # a URL, not a file of its own: passed on as it is
