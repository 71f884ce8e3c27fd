"""Images answers in OpenAI's shape: the response body and the stream's events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_FORMATS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}


@dataclass(frozen=True, slots=True)
class Picture:
    """One output image: its signed URL, and its bytes when the answer carries them."""

    url: str
    data: bytes | None = None
    size: tuple[int, int] | None = None
    """``(width, height)``, when the bytes were read."""

    @property
    def output_format(self) -> str:
        """OpenAI's name of the file's format, from its extension."""
        extension = self.url.partition("?")[0].rpartition(".")[2].lower()
        return _FORMATS.get(extension, extension)


def response(created: int, pictures: list[Picture], b64: bool) -> dict[str, Any]:
    """The body of a generation's or an edit's answer (no ``revised_prompt``, no
    ``usage``: these models count no tokens)."""
    body: dict[str, Any] = {"created": created, "data": [
        {"b64_json": _b64(p)} if b64 else {"url": p.url} for p in pictures]}
    if pictures:
        body["output_format"] = pictures[0].output_format
        if pictures[0].size is not None:
            body["size"] = "x".join(str(v) for v in pictures[0].size)
    return body


def completed_event(prefix: str, created: int, picture: Picture, quality: str | None
                    ) -> dict[str, Any]:
    """``image_generation.completed`` (``image_edit.completed`` for an edit)."""
    return {
        "type": f"{prefix}.completed",
        "b64_json": _b64(picture),
        "created_at": created,
        "size": "x".join(str(v) for v in picture.size) if picture.size else "auto",
        "quality": quality if quality in {"low", "medium", "high"} else "auto",
        "background": "opaque",
        "output_format": picture.output_format,
    }


def partial_event(prefix: str, created: int, preview: dict[str, Any],
                  size: tuple[int, int] | None, quality: str | None) -> dict[str, Any]:
    """``image_generation.partial_image`` (``image_edit.partial_image``): a preview the
    run sent (``predictions.events.preview_data``)."""
    return {
        "type": f"{prefix}.partial_image",
        "b64_json": preview["b64"],
        "created_at": created,
        "size": "x".join(str(v) for v in size) if size else "auto",
        "quality": quality if quality in {"low", "medium", "high"} else "auto",
        "background": "opaque",
        "output_format": _FORMATS.get(preview["format"], preview["format"]),
        "partial_image_index": preview["index"],
    }


def error_event(error: dict[str, Any]) -> dict[str, Any]:
    """What a stream sends when the prediction fails: OpenAI's ``error`` event."""
    return {"type": "error", "error": error}


def _b64(picture: Picture) -> str:
    import base64

    assert picture.data is not None
    return base64.b64encode(picture.data).decode("ascii")
