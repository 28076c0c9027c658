"""ImageKit's error body, ``{"message", "help"}`` (plus fields such as ``missingFileIds``)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator.imgwire.files import Cut

HELP = "For support kindly contact us at support@imagekit.io ."


class IkError(Exception):
    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"message": message, "help": HELP, **extra}, status=status)


def fault_answer(status: int, message: str) -> web.Response:
    """An injected 429/5xx as ImageKit answers; a 429 says when to come back (ms)."""
    response = error_response(status, message)
    if status == 429:
        response.headers["X-RateLimit-Reset"] = "1000"
    return response


@web.middleware
async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except IkError as error:
        return error_response(error.status, error.message, **error.extra)
    except Cut:
        return web.Response()  # never reaches anyone: the socket is already gone
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = "Not Found" if exc.status == 404 else exc.reason
        return error_response(exc.status, text)
