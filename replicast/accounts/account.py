"""Accounts and their API tokens: the records, and the tokens' helpers.

A token is shown once, when it is made; the store keeps only its SHA-256 digest.
Tokens carry over 200 random bits, so a fast digest is enough: nothing can be
guessed from it, and looking a token up costs one indexed read. Lookups go by
digest, never by comparing the token itself, so how long a lookup takes says
nothing about how close a guess came (a guess's digest shares nothing with the
token's). Tokens never reach the logs: ``replicast.logs`` redacts anything shaped
like one.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from replicast import ids, times
from replicast.errors import Unauthenticated

TOKEN_PREFIX = "r8_"  # the shape of Replicate's tokens, which some apps check
_TOKEN_ALPHABET = string.ascii_letters + string.digits
DEFAULT_ACCOUNT = "replicast"


@dataclass(frozen=True, slots=True)
class Account:
    """Who owns predictions; every token belongs to exactly one."""

    id: int
    username: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored token: its digest, never the token itself."""

    id: str
    account_id: int
    token_hash: str
    hint: str
    """The first characters of the token, to tell keys apart in listings."""
    label: str
    created_at: datetime
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    """When the key stops working by itself; None for never."""

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def new_token() -> str:
    """A fresh API token: ``r8_`` and 37 letters or digits (220 random bits)."""
    return TOKEN_PREFIX + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(37))


def hash_token(token: str) -> str:
    """The digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_key(account_id: int, token: str, label: str = "",
            expires_at: datetime | None = None) -> ApiKey:
    """The record to store for ``token``."""
    return ApiKey(
        id=ids.random_id(12),
        account_id=account_id,
        token_hash=hash_token(token),
        hint=token[:7],
        label=label,
        created_at=times.now(),
        expires_at=expires_at,
    )


def parse_authorization(header: str | None) -> str:
    """The token in an ``Authorization: Bearer|Token <token>`` header."""
    if not header:
        raise Unauthenticated("You did not pass an authentication token")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in {"bearer", "token"} or not token:
        raise Unauthenticated("You did not pass a valid authentication token")
    return token
