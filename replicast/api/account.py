"""Routes about the caller's account and the server: account, hardware."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from replicast.api import wire
from replicast.http.responses import json_response
from replicast.state import authenticate


async def get_account(request: Request) -> Response:
    """``GET /v1/account``: the account of the token."""
    return json_response(wire.account(await authenticate(request)))


async def list_hardware(request: Request) -> Response:
    """``GET /v1/hardware``: what this server runs models on."""
    await authenticate(request)
    return json_response([{"sku": "cpu", "name": "CPU"}])
