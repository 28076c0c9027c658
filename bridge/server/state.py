"""What the app keeps for its handlers (typed aiohttp app keys)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bridge.jobs.engine import JobEngine
from bridge.server.jobviews import JobViews
from bridge.settings import Settings

ENGINE = web.AppKey("engine", JobEngine)
JOB_VIEWS = web.AppKey("job_views", JobViews)
TOKEN = web.AppKey("token", str)
SETTINGS = web.AppKey("settings", Settings)
#: Paths (as declared, ``/v1/health``) that need no token.
PUBLIC_PATHS = web.AppKey("public_paths", frozenset[str])
#: Set when shutdown begins: new requests get 503 and streams end.
STOPPING = web.AppKey("stopping", asyncio.Event)
#: ``time.monotonic()`` when the app was built, for ``uptime_s``.
STARTED = web.AppKey("started", float)
#: Seconds between ``: heartbeat`` comments on event streams.
HEARTBEAT_S = web.AppKey("heartbeat_s", float)
#: The OpenAPI document, serialized once when the app is built.
SPEC = web.AppKey("spec", bytes)
