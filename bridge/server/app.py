"""Build the bridge's aiohttp app from its operations: routes, middleware, OpenAPI."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from bridge.jobs.engine import JobEngine
from bridge.server import routes_jobs, routes_merge, routes_service
from bridge.server.errors import MAX_BODY_BYTES
from bridge.server.jobviews import JobViews
from bridge.server.middleware import guarded
from bridge.server.openapi import build_spec
from bridge.server.operations import Operation
from bridge.server.state import (
    ENGINE,
    HEARTBEAT_S,
    JOB_VIEWS,
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
    *,
    engine: JobEngine,
    settings: Settings,
    token: str,
    heartbeat_s: float = HEARTBEAT_INTERVAL_S,
    start_merge_worker: bool = False,
) -> web.Application:
    """The app around ``engine``; ``token`` is what ``Authorization: Bearer`` must carry.

    ``start_merge_worker`` starts the merge process with the app (``serve`` does); else it
    starts at the first merge.
    """
    app = web.Application(middlewares=[guarded], client_max_size=MAX_BODY_BYTES)
    app[ENGINE] = engine
    app[SETTINGS] = settings
    app[TOKEN] = token
    app[HEARTBEAT_S] = heartbeat_s
    app[STARTED] = time.monotonic()
    app[STOPPING] = asyncio.Event()
    app[PUBLIC_PATHS] = frozenset(op.path for op in OPERATIONS if op.public)
    app[SPEC] = openapi_document()
    app[JOB_VIEWS] = JobViews(engine, app[STOPPING])
    app[routes_merge.MERGE_WORKER] = routes_merge.MergeWorker()
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.bind())

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    async def close(app: web.Application) -> None:
        await app[JOB_VIEWS].close()
        await asyncio.to_thread(app[routes_merge.MERGE_WORKER].close)

    async def start_worker(app: web.Application) -> None:
        await asyncio.to_thread(app[routes_merge.MERGE_WORKER].start)

    if start_merge_worker:
        app.on_startup.append(start_worker)
    app.on_shutdown.append(stopping)
    app.on_cleanup.append(close)
    return app
