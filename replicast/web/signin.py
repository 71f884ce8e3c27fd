"""Signing in with an API token, and out again."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from replicast import urls
from replicast.errors import Throttled, Unauthenticated
from replicast.state import app_state
from replicast.web.auth import (
    check_post,
    end_session,
    root,
    safe_next,
    signed_in,
    start_session,
)
from replicast.web.bodies import read_form
from replicast.web.render import page, redirect

FORM_BYTES = 64 * 1024
INVALID_TOKEN = ("That token is not valid. Use the token the server printed at its first "
                 "start, or make one with `replicast keys create`.")


async def login_form(request: Request) -> Response:
    """``GET /login``."""
    next_page = safe_next(request.query_params.get("next"), f"{root(request)}/")
    if await signed_in(request) is not None:
        return redirect(next_page)
    return page(request, "login.html", None, next=next_page, error=None)


async def login(request: Request) -> Response:
    """``POST /login``: check the token, then keep a session (never the token) in a cookie."""
    form = await read_form(request, FORM_BYTES)
    try:
        check_post(request, form, None)
        token, posted_next = form.get("token"), form.get("next")
    finally:
        await form.close()
    next_page = safe_next(posted_next if isinstance(posted_next, str) else None,
                          f"{root(request)}/")
    try:
        if not isinstance(token, str):
            raise Unauthenticated(INVALID_TOKEN)
        # A failed sign-in counts against the address as a failed API request does.
        digest, _ = await app_state(request).identify(
            f"Bearer {token.strip()}", request.client)
    except Unauthenticated:
        return page(request, "login.html", None, status=401, next=next_page,
                    error=INVALID_TOKEN)
    except Throttled as exc:
        refused = page(request, "login.html", None, status=429, next=next_page,
                       error=exc.detail)
        if exc.retry_after is not None:
            refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    response = redirect(next_page)
    await start_session(request, response, digest)
    return response


async def logout(request: Request) -> Response:
    """``POST /logout``."""
    signed = await signed_in(request)
    form = await read_form(request, FORM_BYTES)
    try:
        check_post(request, form, signed)
    finally:
        await form.close()
    response = redirect(f"{root(request)}{urls.LOGIN}")
    await end_session(request, response)
    return response
