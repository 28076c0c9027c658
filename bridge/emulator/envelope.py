"""How the emulator answers: success payloads in the configured envelope, errors as Imagen's.

Production returns bare payloads; the legacy/beta API and the current docs wrap them in
``{"data": ...}``. Statuses come in title, upper or lower case. Both are configurable so
clients are tested against every shape they may meet. Errors are always
``{"error": {"message": ...}}``, never wrapped.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator.config import EmulatorConfig
from bridge.emulator.validation import ApiError

CONFIG_KEY = web.AppKey("emulator_config", EmulatorConfig)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message}}, status=status)


def reply(request: web.Request, payload: object, *, status: int = 200) -> web.Response:
    config = request.app[CONFIG_KEY]
    body = {"data": payload} if config.envelope == "data" else payload
    return web.json_response(body, status=status)


def cased(request: web.Request, status: str) -> str:
    """A canonical title-case status in the configured casing."""
    case = request.app[CONFIG_KEY].status_case
    if case == "upper":
        return status.upper()
    if case == "lower":
        return status.lower()
    return status


def _is_storage(request: web.Request) -> bool:
    return request.path == "/storage" or request.path.startswith("/storage/")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API failure becomes ``{"error": {"message"}}``; storage keeps its S3 XML errors."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if _is_storage(request) or exc.status < 400:
            raise
        if exc.status == 404:
            message = f"No such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"Method {request.method} is not allowed on {request.path}."
        elif exc.status == 413:
            message = "Request body is too large."
        else:
            message = exc.reason
        return error_response(exc.status, message)
