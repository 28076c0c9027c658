"""The emulator's access log: one line per request, so tests and benchmarks can count what
reached the service (each upload, each part, each poll).

A line is ``METHOD PATH STATUS BYTES_RECEIVED``, space-separated, for example::

    PUT /storage/uploads/p1/IMG_1.CR2?partNumber=2&uploadId=u7 200 8388608

``PATH`` is the request target as the client sent it (percent-encoding kept), with the
presigned URL's signature parameters (``X-Amz-*``) removed from the query and every other
parameter kept in its order; a byte outside printable ASCII is percent-encoded, so a line
never holds a space or control character inside a field. ``STATUS`` is the status answered,
or ``-`` when the connection was dropped (an injected fault) and no answer was sent.
A request the service answered after its client had gone (killed while waiting) shows the
status it was answered with: the service acted on it. ``BYTES_RECEIVED`` counts the request
body bytes that arrived. Lines are appended with one ``write`` each, so several emulators
can share a file.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from bridge.emulator.signing import AUTH_PARAMS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LOGGED = web.RequestKey("accesslog_logged", bool)
_UNANSWERED = web.RequestKey("accesslog_unanswered", bool)
_SIGNATURE_PARAMS = frozenset(name.lower() for name in AUTH_PARAMS)


def logged_target(raw: str) -> str:
    """The request target as logged: signature parameters dropped, nothing else changed."""
    path, _, query = raw.partition("?")
    kept = [
        piece
        for piece in query.split("&")
        if piece and unquote(piece.partition("=")[0]).lower() not in _SIGNATURE_PARAMS
    ]
    target = path + ("?" + "&".join(kept) if kept else "")
    return "".join(
        c if "!" <= c <= "~" else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in target
    )


class AccessLog:
    """Appends a line per request to ``path`` (opened once; ``close`` ends it).

    Install both hooks: ``on_prepare`` logs every answer as it starts, including those
    aiohttp gives before any middleware runs (a PUT refused at ``Expect: 100-continue``);
    ``middleware`` logs requests whose connection was dropped, which get no answer.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def install(self, app: web.Application) -> None:
        """Hook into ``app``: outermost middleware (it must come first in the list) + signal."""
        app.on_response_prepare.append(self.on_prepare)

    def _write(self, request: web.BaseRequest, status: int | None) -> None:
        if self._fd < 0 or request.get(_LOGGED):
            return
        request[_LOGGED] = True
        shown = "-" if status is None else str(status)
        received = request.content.total_bytes
        line = f"{request.method} {logged_target(request.raw_path)} {shown} {received}\n"
        os.write(self._fd, line.encode("ascii"))

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        if not _dropped(request):  # a dropped one was logged by the middleware
            self._write(request, response.status)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        status = None
        try:
            response = await handler(request)
            status = None if request.get(_UNANSWERED) else response.status
            return response
        finally:
            if _dropped(request):  # cut (a fault, or the client left): no answer will arrive
                self._write(request, status)


def unanswered(request: web.Request) -> None:
    """The handler cut the connection (an injected fault): log ``-``, not its placeholder."""
    request[_UNANSWERED] = True


def _dropped(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
