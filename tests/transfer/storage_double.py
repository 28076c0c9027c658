"""A small S3-like storage server that misbehaves on cue, for transfer-engine tests.

A test double of the network, not of the engine: real aiohttp over loopback.
Links carry a token in the query (like a presigned signature); tokens can be
expired. ``plan(key, ...)`` queues faults for the next requests of a key:
drop the connection after N body bytes, answer a status (with Retry-After) before or
after the body,
report the link expired, or ignore a ``Range`` header. Every request's headers
are recorded, so tests can check what went over the wire.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class Drop:
    """Close the connection after ``after`` bytes of the body (request or response)."""

    after: int


@dataclass(frozen=True)
class Reply:
    status: int
    retry_after: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class Late:
    """Answer ``status`` only once the whole body is in (a store failing after the upload)."""

    status: int


@dataclass(frozen=True)
class Expire:
    """Answer like S3 does for an expired presigned URL."""


@dataclass(frozen=True)
class IgnoreRange:
    """Serve the whole object with 200, as a server without range support would."""


Action = Drop | Reply | Late | Expire | IgnoreRange
ACTION = web.RequestKey("action", object)


@dataclass
class Seen:
    method: str
    key: str
    part: int | None
    headers: CIMultiDict[str]
    body_size: int = 0


def s3_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>42</RequestId></Error>"
    ).encode()


@dataclass
class FakeStorage:
    origin: str = ""
    objects: dict[str, bytes] = field(default_factory=dict)
    encodings: dict[str, str] = field(default_factory=dict)  # key -> Content-Encoding served
    parts: dict[str, dict[int, bytes]] = field(default_factory=lambda: defaultdict(dict))
    seen: list[Seen] = field(default_factory=list)
    plans: dict[str, list[Action]] = field(default_factory=lambda: defaultdict(list))
    tokens: set[str] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    delay: float = 0.0

    def link(self, key: str, *, part: int | None = None) -> str:
        token = secrets.token_hex(8)
        self.tokens.add(token)
        url = f"{self.origin}/o/{quote(key, safe='')}?X-Amz-Signature={token}"
        return url + (f"&partNumber={part}" if part is not None else "")

    def plan(self, key: str, *actions: Action, part: int | None = None) -> None:
        self.plans[_slot(key, part)].extend(actions)

    def assembled(self, key: str) -> bytes:
        parts = self.parts[key]
        return b"".join(parts[n] for n in sorted(parts))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_put("/o/{key}", self._put)
        app.router.add_get("/o/{key}", self._get)
        return app

    def _next(self, key: str, part: int | None) -> Action | None:
        queue = self.plans.get(_slot(key, part))
        return queue.pop(0) if queue else None

    async def _admit(self, request: web.Request, key: str, part: int | None) -> web.Response | None:
        """Record the request and answer it early if it is planned to fail or not signed."""
        self.seen.append(Seen(request.method, key, part, CIMultiDict(request.headers)))
        action = self._next(key, part)
        if isinstance(action, Reply):
            headers = {"Retry-After": action.retry_after} if action.retry_after else {}
            body = action.body or s3_error("SlowDown", "Please reduce your request rate.")
            return web.Response(status=action.status, body=body, headers=headers)
        if isinstance(action, Expire):
            return web.Response(status=403, body=s3_error("AccessDenied", "Request has expired"))
        if request.query.get("X-Amz-Signature") not in self.tokens:
            return web.Response(status=403, body=s3_error("SignatureDoesNotMatch", "Bad sig"))
        request[ACTION] = action
        return None

    async def _put(self, request: web.Request) -> web.StreamResponse:
        key, part = request.match_info["key"], _part(request)
        refused = await self._admit(request, key, part)
        if refused is not None:
            return refused
        action = request[ACTION]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = bytearray()
            async for chunk in request.content.iter_any():
                body += chunk
                self.seen[-1].body_size = len(body)
                if isinstance(action, Drop) and len(body) >= action.after:
                    assert request.transport is not None
                    request.transport.abort()
                    return web.Response(status=500)
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if isinstance(action, Late):
            return web.Response(status=action.status, body=s3_error("InternalError", "Oops"))
        md5 = request.headers.get("Content-MD5")
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            return web.Response(status=400, body=s3_error("BadDigest", "Content-MD5 mismatch"))
        if part is None:
            self.objects[key] = bytes(body)
        else:
            self.parts[key][part] = bytes(body)
        return web.Response(status=200, headers={"ETag": '"x"'})

    async def _get(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        refused = await self._admit(request, key, None)
        if refused is not None:
            return refused
        action = request[ACTION]
        data = self.objects.get(key)
        if data is None:
            return web.Response(status=404, body=s3_error("NoSuchKey", "No such key"))
        start, status = 0, 200
        ranged = request.headers.get("Range")
        if ranged and not isinstance(action, IgnoreRange):
            start = int(ranged.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
        response = web.StreamResponse(status=status)
        response.content_length = len(data) - start
        if key in self.encodings:
            response.headers["Content-Encoding"] = self.encodings[key]
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        await response.prepare(request)
        body = data[start:]
        if isinstance(action, Drop):
            await response.write(body[: action.after])
            assert request.transport is not None
            request.transport.abort()
            return response
        for offset in range(0, len(body), 256 * 1024):
            await response.write(body[offset : offset + 256 * 1024])
        await response.write_eof()
        return response


def _slot(key: str, part: int | None) -> str:
    return key if part is None else f"{key}#{part}"


def _part(request: web.Request) -> int | None:
    value = request.query.get("partNumber")
    return int(value) if value else None
