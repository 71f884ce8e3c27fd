"""How large an input Replicast keeps: each string in it, and the whole of it.

An input is stored with its prediction and shown in every response, webhook and listing
of it until retention removes it, so its size is bounded before anything is stored, apart
from the request body's own limit. The bounds leave room for long prompts and contexts,
and for files sent as data URIs; larger files belong in the Files API, which the official
clients use for files by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from replicast.errors import InvalidField, InvalidInput

MAX_BYTES = 8 * 1024 * 1024
MAX_STRING_BYTES = 4 * 1024 * 1024
_MAX_UTF8_BYTES_PER_CHAR = 4


@dataclass(frozen=True, slots=True)
class InputLimits:
    """The largest input kept, as JSON text, and the largest string in it, in UTF-8."""

    max_bytes: int = MAX_BYTES
    """The whole input as JSON text (``REPLICAST_MAX_INPUT_BYTES``)."""
    max_string_bytes: int = MAX_STRING_BYTES
    """Each string value in it (``REPLICAST_MAX_INPUT_STRING_BYTES``)."""

    def check(self, input: Mapping[str, Any]) -> None:
        """Raise ``InvalidInput`` naming each string past its limit, and the input if the
        whole of it is past its own."""
        problems = [
            InvalidField("string_too_long", path,
                         f"Must be at most {self.max_string_bytes} bytes of UTF-8, not {size}; "
                         "pass large files as URLs (POST /v1/files makes one)")
            for path, size in self._long_strings(input)
        ]
        try:
            size = len(orjson.dumps(input))
        except orjson.JSONEncodeError:  # what JSON cannot hold: validation says where
            size = 0
        if size > self.max_bytes:
            problems.append(InvalidField(
                "input_too_large", "input",
                f"The input must be at most {self.max_bytes} bytes as JSON, not {size}; "
                "pass large files as URLs (POST /v1/files makes one)"))
        if problems:
            raise InvalidInput.from_fields(problems)

    def _long_strings(self, input: Mapping[str, Any]) -> list[tuple[str, int]]:
        """Where the strings past the limit are (``input.messages.2.content``), and their
        sizes; the walk is iterative, so that nesting cannot exhaust the stack."""
        found: list[tuple[str, int]] = []
        stack: list[tuple[str, Any]] = [(f"input.{key}", value) for key, value in input.items()]
        while stack:
            path, value = stack.pop()
            if isinstance(value, str):
                # Encoding is needed only where the length in characters leaves it open.
                if len(value) * _MAX_UTF8_BYTES_PER_CHAR > self.max_string_bytes:
                    size = len(value.encode("utf-8", "surrogatepass"))
                    if size > self.max_string_bytes:
                        found.append((path, size))
            elif isinstance(value, dict):
                stack.extend((f"{path}.{key}", item) for key, item in value.items())
            elif isinstance(value, list):
                stack.extend((f"{path}.{index}", item) for index, item in enumerate(value))
        found.sort()
        return found
