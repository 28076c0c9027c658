"""A scripted stand-in for the Imagen API on loopback: answers exactly what a test queues.

For the client behaviours the emulator deliberately does not produce (odd
error shapes, a key echoed in an error, 503 storms, slow polls). Every
request is recorded as it arrived on the wire.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None  # bytes are sent as they are, anything else as JSON; None: empty
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Call:
    method: str
    raw_path: str
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ApiDouble:
    base_url: str = ""
    script: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def answer(self, method: str, path: str, *answers: Answer) -> None:
        """Queue answers for ``method path`` (path as the server sees it, before the query)."""
        self.script.setdefault((method, path), []).extend(answers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.calls.append(
            Call(request.method, request.raw_path, CIMultiDict(request.headers), body)
        )
        queue = self.script.get((request.method, request.path))
        if not queue:
            return web.json_response({"detail": "not scripted"}, status=404)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        await asyncio.sleep(answer.delay)
        if answer.body is None:
            payload = b""
        elif isinstance(answer.body, bytes):
            payload = answer.body
        else:
            payload = json.dumps(answer.body).encode()
        return web.Response(status=answer.status, body=payload, headers=answer.headers)
