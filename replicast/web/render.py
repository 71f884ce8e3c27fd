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

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    # Output files are served by this server; data: is the empty favicon.
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
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
    return secured(HTMLResponse(html, status_code=status))


def redirect(url: str) -> Response:
    """A 303 to ``url``: after a POST, the browser GETs it."""
    return secured(RedirectResponse(url, status_code=303))


def error_page(request: Request, signed: SignedIn | None, status: int, title: str,
               detail: str) -> Response:
    """A page that says what went wrong."""
    return page(request, "error.html", signed, status=status, title=title, detail=detail)
