"""``REPLICAST_STORAGE_URL``: which bucket, and which prefix in it, keeps the files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# S3's rules for bucket names (3 to 63 lowercase letters, digits, dots and hyphens,
# beginning and ending with a letter or digit); other S3-compatible stores follow them.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KEY_PART = re.compile(r"[A-Za-z0-9!_.*'()-]+")


@dataclass(frozen=True, slots=True)
class BucketLocation:
    """A bucket and the prefix every key Replicast writes begins with."""

    bucket: str
    prefix: str
    """Empty, or ends with ``/``."""

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the prefix."""
        return self.prefix + "/".join(parts)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse(raw: str) -> BucketLocation:
    """The location ``s3://bucket[/prefix]`` names; ``ValueError`` saying what is wrong."""
    parts = urlsplit(raw.strip())
    if parts.scheme != "s3":
        raise ValueError(f"{raw!r} is not an s3://bucket/prefix URL")
    if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(f"{raw!r} must be s3://bucket/prefix, with no credentials, port, "
                         "query or fragment (credentials come from the AWS_* variables)")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"{bucket!r} is not a bucket name (3-63 lowercase letters, digits, "
                         "dots and hyphens)")
    segments = [segment for segment in parts.path.split("/") if segment]
    for segment in segments:
        if segment in {".", ".."} or not _KEY_PART.fullmatch(segment):
            raise ValueError(f"the prefix segment {segment!r} of {raw!r} may hold only "
                             "letters, digits and !_.*'()-")
    prefix = "".join(f"{segment}/" for segment in segments)
    if len(prefix) > 512:
        raise ValueError(f"the prefix of {raw!r} is longer than 512 characters")
    return BucketLocation(bucket, prefix)
