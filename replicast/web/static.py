"""The pages' script and stylesheet, from ``static/`` in the package."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from replicast.web.render import secured

FOLDER = Path(__file__).parent / "static"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class StaticFiles:
    """Serves the files found in ``static/`` when the routes were made, and no others."""

    def __init__(self, folder: Path = FOLDER) -> None:
        self.files = {path.name: path for path in folder.iterdir()
                      if path.is_file() and path.suffix in _TYPES}

    async def serve(self, request: Request) -> Response:
        """``GET /static/{name}``."""
        path = self.files.get(request.path_params["name"])
        if path is None:
            return secured(PlainTextResponse("Not found", status_code=404), private=False)
        # Revalidated each time (an ETag makes that cheap), so an upgrade shows at once.
        response = FileResponse(path, media_type=_TYPES[path.suffix],
                                headers={"Cache-Control": "no-cache"})
        return secured(response, private=False)
