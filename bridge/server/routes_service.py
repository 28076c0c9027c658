"""``/v1/health``, ``/v1/profiles`` and ``/v1/openapi.json``: about the bridge itself."""

from __future__ import annotations

import os
import time

from aiohttp import web

from bridge import __version__
from bridge.server.models import Health, ProfileList, ProfileView
from bridge.server.operations import JSON_TYPE, Call, Operation, Param, RawBody, json_response
from bridge.server.state import ENGINE, SPEC, STARTED


async def _health(call: Call) -> web.StreamResponse:
    engine = call.app[ENGINE]
    return json_response(
        Health(
            version=__version__,
            backend="imagen" if engine.backend == "imagen" else "emulator",
            api_key_configured=engine.api_key_configured,
            uptime_s=round(time.monotonic() - call.app[STARTED], 3),
            pid=os.getpid(),
        )
    )


async def _profiles(call: Call) -> web.StreamResponse:
    profiles = await call.app[ENGINE].profiles(refresh=call.query["refresh"])
    fields = set(ProfileView.model_fields)
    return json_response(
        ProfileList(profiles=[ProfileView(**p.model_dump(include=fields)) for p in profiles])
    )


async def _openapi(call: Call) -> web.StreamResponse:
    return web.Response(body=call.app[SPEC], content_type=JSON_TYPE, charset="utf-8")


OPERATIONS = (
    Operation(
        "GET", "/v1/health", _health, "Whether the bridge runs, and against what (no token)",
        responses={200: Health}, public=True, tags=("service",),
    ),
    Operation(
        "GET", "/v1/profiles", _profiles, "Your Imagen profiles (cached for 10 minutes)",
        responses={200: ProfileList}, errors=(502,), tags=("service",),
        query=(Param("refresh", bool, "Ask Imagen again instead of the cache.", False),),
    ),
    Operation(
        "GET", "/v1/openapi.json", _openapi, "This API as OpenAPI 3.1",
        responses={200: RawBody(JSON_TYPE, {"type": "object"})}, tags=("service",),
    ),
)  # fmt: skip
