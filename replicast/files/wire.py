"""An uploaded file as Replicate's API represents it (``schemas_file_response``)."""

from __future__ import annotations

from typing import Any

from replicast import times
from replicast.files.file import StoredFile
from replicast.files.urls import file_url
from replicast.urls import API


def to_json(f: StoredFile, download_url: str, prefix: str = API) -> dict[str, Any]:
    """A file as ``GET /v1/files/{id}`` returns it.

    ``urls.download`` is a Replicast addition (the schema allows more URLs): the signed
    URL of the file's bytes, which works without a token. ``prefix``: the API prefix of
    the request answered, which ``urls.get`` names (``download_url`` should too).
    """
    return {
        "id": f.id,
        "name": f.name,
        "content_type": f.content_type,
        "size": f.size,
        "etag": f.md5,
        "checksums": {"sha256": f.sha256, "md5": f.md5},
        "metadata": f.metadata,
        "created_at": times.format_rfc3339(f.created_at),
        "expires_at": None if f.expires_at is None else times.format_rfc3339(f.expires_at),
        "urls": {"get": file_url(f.base_url, f.id, prefix), "download": download_url},
    }
