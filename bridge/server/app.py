"""Build the bridge's aiohttp app from its operations: routes, middleware, OpenAPI."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from bridge.jobs.engine import JobEngine
from bridge.server import routes_jobs, routes_merge, routes_service
from bridge.server.errors import MAX_BODY_BYTES
from bridge.server.middleware import error_shape, guard
from bridge.server.openapi import build_spec
from bridge.server.operations import Operation
from bridge.server.state import (
    ENGINE,
    HEARTBEAT_S,
    PUBLIC_PATHS,
    SETTINGS,
    SPEC,
    STARTED,
    STOPPING,
    TOKEN,
)
from bridge.settings import Settings

OPERATIONS: tuple[Operation, ...] = (
    routes_service.OPERATIONS + routes_jobs.OPERATIONS + routes_merge.OPERATIONS
)
HEARTBEAT_INTERVAL_S = 15.0


def openapi_document() -> bytes:
    return json.dumps(build_spec(OPERATIONS), ensure_ascii=False).encode("utf-8")


def create_app(
    *, engine: JobEngine, settings: Settings, token: str, heartbeat_s: float = HEARTBEAT_INTERVAL_S
) -> web.Application:
    """The app around ``engine``; ``token`` is what ``Authorization: Bearer`` must carry."""
    app = web.Application(middlewares=[error_shape, guard], client_max_size=MAX_BODY_BYTES)
    app[ENGINE] = engine
    app[SETTINGS] = settings
    app[TOKEN] = token
    app[HEARTBEAT_S] = heartbeat_s
    app[STARTED] = time.monotonic()
    app[STOPPING] = asyncio.Event()
    app[PUBLIC_PATHS] = frozenset(op.path for op in OPERATIONS if op.public)
    app[SPEC] = openapi_document()
    app[routes_merge.MERGE_LOCK] = asyncio.Lock()
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.bind())

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    return app
