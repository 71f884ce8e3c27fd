"""Identifiers: prediction ids and the unguessable tokens in URLs."""

from __future__ import annotations

import secrets

# Replicate's ids since 2024 use this lower-case base32 alphabet (no i, l, o, u).
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def random_id(length: int = 26) -> str:
    """A random id of ``length`` characters from ``ALPHABET`` (5 bits each)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def prediction_id() -> str:
    """A new prediction id: 26 lower-case alphanumerics, 130 random bits."""
    return random_id(26)


def url_token() -> str:
    """A token for a URL that must work without the API token: 260 random bits."""
    return random_id(52)


def is_prediction_id(value: str) -> bool:
    """Whether ``value`` has the shape of a prediction id."""
    return len(value) == 26 and all(c in ALPHABET for c in value)
