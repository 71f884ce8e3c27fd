"""The URLs of uploaded files, and recognising them among a prediction's inputs."""

from __future__ import annotations

from urllib.parse import urlencode

from replicast.urls import API, FILE, FILE_DOWNLOAD, api_route, api_url, head, matches


def file_url(base_url: str, file_id: str, prefix: str = API) -> str:
    """The file resource: ``urls.get``, which clients put into prediction inputs;
    ``prefix`` is the API prefix it is named under (``urls.API_PREFIXES``)."""
    return api_url(base_url, FILE, prefix=prefix, file_id=file_id)


def download_url(base_url: str, file_id: str, *, owner: str, expiry: int,
                 signature: str, prefix: str = API) -> str:
    """The signed URL of the file's bytes, which needs no token."""
    query = urlencode({"owner": owner, "expiry": expiry, "signature": signature})
    return f"{api_url(base_url, FILE_DOWNLOAD, prefix=prefix, file_id=file_id)}?{query}"


def own_file_id(url: str, base_url: str) -> str | None:
    """The id of the file behind ``url`` if it is a file URL of the server at
    ``base_url`` (``.../v1/files/{id}``, ``.../replicate/v1/files/{id}``, each optionally
    ``/download`` with its query); None for any other URL."""
    if not url.startswith(base_url + "/"):
        return None
    # The API is served under both prefixes; a file's URL may name either.
    route = api_route(url[len(base_url):].partition("#")[0].partition("?")[0])
    if route is None or not (matches(FILE, route) or matches(FILE_DOWNLOAD, route)):
        return None
    return route[len(head(FILE)):].partition("/")[0]
