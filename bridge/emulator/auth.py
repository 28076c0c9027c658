"""``x-api-key`` on every ``/v1`` route, as Imagen requires; storage URLs carry signatures instead.

The key is compared in constant time and never echoed back or logged.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator.envelope import CONFIG_KEY
from bridge.emulator.validation import ApiError

API_PREFIX = "/v1"


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        presented = request.headers.get("x-api-key", "").strip()
        expected = request.app[CONFIG_KEY].api_key
        if not presented:
            raise ApiError(401, "Missing x-api-key header.")
        if expected is not None and not hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), expected.encode("utf-8")
        ):
            raise ApiError(401, "Invalid API key.")
    return await handler(request)
