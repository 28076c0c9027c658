"""Imgwire's two error shapes and the middleware that answers with them.

Validation failures are FastAPI's 422 ``{"detail": [{"loc", "msg", "type"}]}`` (the only error
its OpenAPI declares); everything else is ``{"detail": "<text>", "error_type": "<Name>"}``,
the domain errors its troubleshooting pages name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator.imgwire.files import Cut

Loc = Sequence[str | int]


class Problem(Exception):
    """A domain error: HTTP status, Imgwire's ``detail`` text and its ``error_type``."""

    def __init__(self, status: int, detail: str, error_type: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error_type = error_type


class Invalid(Exception):
    """One or more request validation failures (422), each ``(loc, msg, type)``."""

    def __init__(self, problems: list[tuple[Loc, str, str]]) -> None:
        super().__init__("; ".join(msg for _, msg, _ in problems))
        self.problems = problems


def not_found(what: str = "Resource") -> Problem:
    return Problem(404, f"{what} not found.", "ResourceNotFoundError")


def domain_error(status: int, detail: str, error_type: str) -> web.Response:
    return web.json_response({"detail": detail, "error_type": error_type}, status=status)


def fault_answer(status: int, message: str) -> web.Response:
    """An injected 429/5xx in Imgwire's domain-error shape."""
    kind = "RateLimitError" if status == 429 else "ServiceUnavailableError"
    return domain_error(status, message, kind)


@web.middleware
async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return domain_error(problem.status, problem.detail, problem.error_type)
    except Invalid as invalid:
        detail = [
            {"loc": list(loc), "msg": msg, "type": kind} for loc, msg, kind in invalid.problems
        ]
        return web.json_response({"detail": detail}, status=422)
    except Cut:
        return web.Response()  # never reaches anyone: the socket is already gone
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return domain_error(413, "Request body is too large.", "OperationNotAllowedError")
        # FastAPI's own answers for unknown routes and methods carry no error_type.
        text = "Not Found" if exc.status == 404 else exc.reason
        return web.json_response({"detail": text}, status=exc.status)


def parse_json_body(raw: bytes) -> object:
    """The body as JSON, or FastAPI's ``json_invalid`` 422."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid([(("body", 0), "JSON decode error", "json_invalid")]) from None
