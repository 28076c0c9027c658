"""A live bridge app on a real loopback socket, and a client that can send anything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bridge.jobs.engine import JobEngine
from bridge.server.app import create_app
from bridge.settings import Settings


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        data = self.json
        assert set(data) == {"error"}, data
        assert set(data["error"]) == {"code", "message", "details"}, data
        assert isinstance(data["error"]["message"], str) and data["error"]["message"]
        return str(data["error"]["code"])


@dataclass
class Live:
    """The app served on 127.0.0.1:``port``; :meth:`call` sends the token unless told not to."""

    port: int
    token: str
    session: aiohttp.ClientSession
    app: web.Application

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = "",
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent.setdefault("Authorization", f"Bearer {token or self.token}")
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method, self.origin + path, data=data, headers=sent
        ) as response:
            return Answer(response.status, dict(response.headers), await response.read())


@asynccontextmanager
async def live_app(
    engine: JobEngine, settings: Settings, token: str, **options: Any
) -> AsyncIterator[Live]:
    app = create_app(engine=engine, settings=settings, token=token, **options)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        # No cookie jar, no automatic headers beyond what aiohttp must send.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            yield Live(port, token, session, app)
    finally:
        await runner.cleanup()
