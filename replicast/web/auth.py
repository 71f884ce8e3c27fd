"""Who is signed in to the pages, and which posts they may make.

A page that needs an account sends those who are not signed in to ``/login?next=...``;
``next`` is only ever a path on this site. Every POST must come from this site (its
``Origin``, or ``Sec-Fetch-Site`` when a browser sends no ``Origin``), and a signed-in
POST must carry its session's CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from replicast import urls
from replicast.accounts.account import Account
from replicast.errors import Forbidden, Unauthenticated
from replicast.sessions import Session, Sessions
from replicast.state import app_state

COOKIE = "replicast_session"
SECURE_COOKIE = "__Host-replicast_session"
"""The cookie's name over HTTPS: the prefix makes browsers insist on Secure and Path=/."""
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The account behind a request's session, and the token its forms carry."""

    account: Account
    session: Session
    csrf: str


def root(request: Request) -> str:
    """The path the server is mounted under (``""`` at the root of its origin)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def secure(request: Request) -> bool:
    """Whether the browser reaches the pages over HTTPS."""
    public = app_state(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def _sessions(request: Request) -> Sessions:
    sessions = app_state(request).sessions
    assert sessions is not None, "the pages are served only with the API"
    return sessions


def _cookie_name(request: Request) -> str:
    return SECURE_COOKIE if secure(request) else COOKIE


async def signed_in(request: Request) -> SignedIn | None:
    """The request's account, if its session cookie is valid and its key still is."""
    sessions = _sessions(request)
    session = await sessions.read(request.cookies.get(_cookie_name(request)))
    if session is None:
        return None
    try:
        account = await app_state(request).accounts.by_digest(session.digest)
    except Unauthenticated:
        return None  # the key was revoked
    return SignedIn(account, session, sessions.csrf_token(session))


async def start_session(request: Request, response: Response, digest: str) -> None:
    """Sign the browser in with the key whose token has ``digest``, ending the session
    it had before, if any."""
    sessions = _sessions(request)
    await sessions.forget(request.cookies.get(_cookie_name(request)))
    session = await sessions.issue(digest)
    is_secure = secure(request)
    response.set_cookie(_cookie_name(request), session.value,
                        max_age=sessions.lifetime, path="/", secure=is_secure,
                        httponly=True, samesite="strict")


async def end_session(request: Request, response: Response) -> None:
    """Sign the browser out: end its session (its key revoked or not), delete the cookie."""
    await _sessions(request).forget(request.cookies.get(_cookie_name(request)))
    is_secure = secure(request)
    response.delete_cookie(_cookie_name(request), path="/", secure=is_secure, httponly=True,
                           samesite="strict")


def safe_next(value: str | None, fallback: str) -> str:
    """``value`` if it is a path on this site (``/...``, not ``//host`` or a URL), else
    ``fallback``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return fallback
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in value):
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return fallback
    return value


def login_url(request: Request) -> str:
    """Where to sign in, then come back to this page."""
    here = request.url.path  # the whole path, root_path included
    if request.url.query:
        here += f"?{request.url.query}"
    return f"{root(request)}{urls.LOGIN}?next={quote(here, safe='/')}"


def _own_origins(request: Request) -> set[str]:
    origins = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    public = app_state(request).settings.public_url
    if public:
        parts = urlsplit(public)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def same_site(request: Request) -> bool:
    """Whether a POST comes from this site's own pages (or from no browser at all)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin in _own_origins(request)
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    return True  # not a browser: no cookie was sent on its behalf


def check_post(request: Request, form: FormData | None, signed: SignedIn | None) -> None:
    """``Forbidden`` unless the POST comes from this site and, when signed in, carries
    the session's CSRF token."""
    if not same_site(request):
        raise Forbidden("This form was sent from another site, so it was refused.")
    if signed is None:
        return
    token = form.get(CSRF_FIELD) if form is not None else None
    if not isinstance(token, str) or not _sessions(request).csrf_valid(signed.session, token):
        raise Forbidden("This form has expired or did not come from this site's pages. "
                        "Reload the page and try again.")
