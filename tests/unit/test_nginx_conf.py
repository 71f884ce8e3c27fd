"""deploy/nginx.conf lets through the bodies Replicast takes, and no larger."""

from __future__ import annotations

import re
from pathlib import Path

from replicast.config import Settings
from replicast.http.uploads import _OVERHEAD
from replicast.web.pages import FORM_OVERHEAD

CONF = (Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf").read_text()
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _size(text: str) -> int:
    found = re.fullmatch(r"(\d+)([kmg]?)", text.lower())
    assert found is not None, text
    return int(found[1]) * UNITS[found[2]]


def _limits() -> tuple[int, dict[str, int]]:
    """The server's client_max_body_size, and each regex location's."""
    found = re.search(r"^    client_max_body_size (\w+);", CONF, re.M)
    assert found is not None
    server_wide = _size(found[1])
    locations = {m[1]: _size(m[2]) for m in re.finditer(
        r"location ~ (\S+) \{[^}]*?client_max_body_size (\w+);", CONF)}
    return server_wide, locations


def _limit_for(path: str) -> int:
    server_wide, locations = _limits()
    return next((size for pattern, size in locations.items() if re.search(pattern, path)),
                server_wide)


def test_json_bodies_are_held_to_the_request_limit():
    settings = Settings(data_dir=Path("/data"))
    for path in ["/v1/predictions", "/replicate/v1/predictions",
                 "/v1/models/replicast/sleep/predictions", "/v1/images/generations"]:
        assert _limit_for(path) == settings.max_request_bytes, path


def test_uploads_take_a_file_of_the_largest_size_the_files_api_takes():
    settings = Settings(data_dir=Path("/data"))
    for path in ["/v1/files", "/replicate/v1/files", "/v1/images/edits",
                 "/openai/v1/images/edits", "/models/black-forest-labs/flux-schnell"]:
        limit = _limit_for(path)
        assert settings.max_file_bytes + _OVERHEAD <= limit, path
        assert limit <= settings.max_file_bytes + FORM_OVERHEAD + _OVERHEAD, path
