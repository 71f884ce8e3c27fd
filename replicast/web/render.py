"""Rendering the pages: the templates, and the headers every page answer carries."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from replicast import times
from replicast.web.auth import SignedIn, root
from replicast.web.forms import number_text


def content_security_policy(images_from: str | None = None) -> str:
    """The pages' policy; ``images_from`` is another origin whose images they show (the
    bucket's, when output links are presigned URLs of it)."""
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # Output files are served by this server (or the bucket); data: is the favicon.
        f"img-src 'self' data:{f' {images_from}' if images_from else ''}",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])


CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@functools.cache
def environment() -> jinja2.Environment:
    """The templates, autoescaped; built at first use."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("replicast.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["number"] = number_text
    return env


def when(value: Any) -> str:
    """A time as the pages show it: ``2026-11-22 10:19:01 UTC``."""
    if value is None:
        return ""
    moment = value if isinstance(value, datetime) else times.parse_rfc3339(str(value))
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def secured(response: Response, *, private: bool = True) -> Response:
    """``response`` with the security headers; ``private`` pages are never cached."""
    response.headers.update(SECURITY_HEADERS)
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def page(request: Request, template: str, signed: SignedIn | None, status: int = 200,
         **context: Any) -> Response:
    """A rendered page."""
    html = environment().get_template(template).render(
        root=root(request), account=signed.account.username if signed else None,
        csrf=signed.csrf if signed else "", **context)
    response = secured(HTMLResponse(html, status_code=status))
    state = getattr(request.app.state, "replicast", None)
    # A prediction's page follows its event stream, whose output links may be the bucket's.
    origin = state.links.foreign_origin if state is not None else None
    if origin is not None:
        response.headers["Content-Security-Policy"] = content_security_policy(origin)
    return response


def redirect(url: str) -> Response:
    """A 303 to ``url``: after a POST, the browser GETs it."""
    return secured(RedirectResponse(url, status_code=303))


def error_page(request: Request, signed: SignedIn | None, status: int, title: str,
               detail: str) -> Response:
    """A page that says what went wrong."""
    return page(request, "error.html", signed, status=status, title=title, detail=detail)
