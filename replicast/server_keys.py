"""The MAC the server's own signing keys make.

One key per purpose (output links, file downloads, web sessions, gateway hooks), made
at first use and kept in the store (``SessionStore.server_key``), so every process sharing the
database signs and checks alike. A key is only ever used for its own purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def mac(key: bytes, message: str) -> str:
    """HMAC-SHA256 of ``message``, as unpadded URL-safe base64 (43 characters)."""
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
