"""Presigned GET URLs (AWS Signature Version 4, query form) with a chosen signing time.

The signing time is a parameter, not the clock, so that the output links of one
prediction stay the same URLs for a while, as Replicast's own signed links do: a
URL signed at the start of a step with the expiry at its end is valid from the
moment it is shown until that expiry, and the next response shows the same URL.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 7 * 24 * 3600
"""The longest a SigV4 presigned URL may be valid for."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What signs: an access key, its secret, and a session token for temporary ones."""

    access_key: str
    secret_key: str
    token: str | None = None


def _uri_encode(text: str, *, slash: bool) -> str:
    return quote(text, safe="-_.~/" if slash else "-_.~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def presign_get(object_url: str, *, region: str, credentials: Credentials, signed_at: int,
                expires_in: int) -> str:
    """``object_url`` (``scheme://host[:port]/path``, the path not yet encoded) presigned
    for GET from ``signed_at`` (Unix time) for ``expires_in`` seconds."""
    if not 1 <= expires_in <= MAX_EXPIRES:
        raise ValueError(f"a presigned URL is valid for 1 to {MAX_EXPIRES} seconds, "
                         f"not {expires_in}")
    parts = urlsplit(object_url)
    host = parts.netloc
    path = _uri_encode(parts.path or "/", slash=True)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at))
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{credentials.access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires_in),
        "X-Amz-SignedHeaders": "host",
    }
    if credentials.token:
        params["X-Amz-Security-Token"] = credentials.token
    query = "&".join(f"{_uri_encode(name, slash=False)}={_uri_encode(value, slash=False)}"
                     for name, value in sorted(params.items()))
    request = f"GET\n{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
    to_sign = "\n".join([ALGORITHM, amz_date, scope,
                         hashlib.sha256(request.encode()).hexdigest()])
    key = _hmac(f"AWS4{credentials.secret_key}".encode(), amz_date[:8])
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{parts.scheme}://{host}{path}?{query}&X-Amz-Signature={signature}"
