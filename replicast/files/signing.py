"""Signed download URLs of uploaded files, in Replicate's form.

``GET /v1/files/{id}/download?owner=<username>&expiry=<unix seconds>&signature=<base64>``
needs no API token: ``signature`` is the base64 HMAC-SHA256 of ``"{owner} {id} {expiry}"``
under a key the server keeps in the store, so every process sharing the database signs
and checks alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_NAME = "files-download"

_MAX_EXPIRY_DIGITS = 12


class DownloadSigner:
    """Signs download URLs and checks signed requests."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def _digest(self, owner: str, file_id: str, expiry: int) -> bytes:
        message = f"{owner} {file_id} {expiry}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def signature(self, owner: str, file_id: str, expiry: int) -> str:
        """The signature (standard base64, padded) of a download until ``expiry``."""
        return base64.b64encode(self._digest(owner, file_id, expiry)).decode()

    def valid(self, owner: str, file_id: str, expiry: str, signature: str, *,
              now: float) -> bool:
        """Whether ``signature`` signs this download and ``expiry`` has not passed."""
        if not expiry.isascii() or not expiry.isdigit() or len(expiry) > _MAX_EXPIRY_DIGITS:
            return False
        if int(expiry) < now:
            return False
        given = _decode(signature)
        return given is not None and hmac.compare_digest(
            given, self._digest(owner, file_id, int(expiry)))


def _decode(signature: str) -> bytes | None:
    """The bytes of a base64 signature, in either alphabet, padded or not.

    An unescaped ``+`` in a query string arrives as a space: it is taken back.
    """
    text = signature.replace(" ", "+").replace("-", "+").replace("_", "/")
    if not text.isascii() or len(text) > 64:
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
