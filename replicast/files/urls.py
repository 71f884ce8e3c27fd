"""The URLs of uploaded files, and recognising them among a prediction's inputs."""

from __future__ import annotations

from urllib.parse import urlencode

# The API is served under both; a file's URL may name either.
from replicast.paths import API_PREFIXES


def file_url(base_url: str, file_id: str) -> str:
    """The file resource: ``urls.get``, which clients put into prediction inputs."""
    return f"{base_url}/v1/files/{file_id}"


def download_url(base_url: str, file_id: str, *, owner: str, expiry: int,
                 signature: str) -> str:
    """The signed URL of the file's bytes, which needs no token."""
    query = urlencode({"owner": owner, "expiry": expiry, "signature": signature})
    return f"{base_url}/v1/files/{file_id}/download?{query}"


def own_file_id(url: str, base_url: str) -> str | None:
    """The id of the file behind ``url`` if it is a file URL of the server at
    ``base_url`` (``.../v1/files/{id}``, ``.../replicate/v1/files/{id}``, each optionally
    ``/download`` with its query); None for any other URL."""
    if not url.startswith(base_url + "/"):
        return None
    path = url[len(base_url):].partition("#")[0].partition("?")[0]
    for prefix in API_PREFIXES:
        head = f"{prefix}/files/"
        if path.startswith(head):
            file_id, slash, rest = path[len(head):].partition("/")
            if file_id and (not slash or rest == "download"):
                return file_id
    return None
