"""The pages' routes: none under ``/v1`` or ``/replicate/v1``, none in ``/openapi.json``,
and none drawing on the API's rate limits (which count API tokens, not sessions)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from replicast import urls
from replicast.errors import NotFound, RequestError
from replicast.http.problems import PROBLEMS
from replicast.web import pages, signin
from replicast.web.auth import signed_in
from replicast.web.render import error_page
from replicast.web.static import StaticFiles

Endpoint = Callable[[Request], Awaitable[Response]]

NOT_FOUND = "This page does not exist, or it belongs to another account."


def html_errors(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` answering what the client got wrong with a page, not a JSON problem."""

    @functools.wraps(endpoint)
    async def page(request: Request) -> Response:
        try:
            return await endpoint(request)
        except RequestError as exc:
            signed = await signed_in(request)
            if isinstance(exc, NotFound):
                return error_page(request, signed, 404, "Not found", NOT_FOUND)
            status, title = next(((status, title) for kind, status, title in PROBLEMS
                                  if isinstance(exc, kind)), (400, "Bad request"))
            return error_page(request, signed, status, title, exc.detail)

    return page


def routes() -> list[BaseRoute]:
    """Every page route."""
    static = StaticFiles()
    return [
        Route(urls.HOME, html_errors(pages.home), methods=["GET"]),
        Route(urls.LOGIN, html_errors(signin.login_form), methods=["GET"]),
        Route(urls.LOGIN, html_errors(signin.login), methods=["POST"]),
        Route(urls.LOGOUT, html_errors(signin.logout), methods=["POST"]),
        Route(urls.MODEL_PAGE, html_errors(pages.model_page), methods=["GET"]),
        Route(urls.MODEL_PAGE, html_errors(pages.create), methods=["POST"]),
        Route(urls.PREDICTION_PAGE, html_errors(pages.prediction_page), methods=["GET"]),
        Route(urls.PREDICTION_PAGE_JSON, pages.prediction_json, methods=["GET"]),
        Route(urls.PREDICTION_PAGE_CANCEL, html_errors(pages.cancel), methods=["POST"]),
        Route(urls.STATIC, static.serve, methods=["GET"]),
    ]
