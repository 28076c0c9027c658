"""Who may talk to the bridge, and what every failure looks like.

Only local programs that hold the token: the socket is bound to 127.0.0.1, the ``Host``
header must name it (a DNS-rebinding page sends its own host name), anything a browser
marks as coming from a page is refused, and the token is compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.imagen import ImagenError
from bridge.jobs.errors import JobConflict, JobNotFound, JobRequestError
from bridge.server.errors import (
    ApiError,
    ErrorDetail,
    conflict,
    not_found,
    too_large,
    validation_failed,
)
from bridge.server.state import PUBLIC_PATHS, STOPPING, TOKEN

log = logging.getLogger("bridge.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one middleware (each layer costs every request): :func:`_guard`, then the
    handler, and every failure as ``{"error": {...}}``; an unexpected one is logged and
    answered 500."""
    try:
        _guard(request)
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return exc.response(headers)
    except JobNotFound as exc:
        return not_found(str(exc)).response()
    except JobConflict as exc:
        return conflict(str(exc)).response()
    except JobRequestError as exc:
        return validation_failed([ErrorDetail(**d) for d in exc.details]).response()
    except ImagenError as exc:
        # Its message names the failure (and where a rejected key came from), never the key.
        return ApiError(502, "imagen_unavailable", f"Imagen: {exc}").response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http(exc).response(_allow_header(exc))
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return ApiError(
            500, "internal_error", "the bridge failed unexpectedly; see its log"
        ).response()


def _from_http(exc: web.HTTPException) -> ApiError:
    """aiohttp's own refusals (no route, wrong method, body too large) in our shape."""
    code = _HTTP_CODES.get(exc.status, "bad_request" if exc.status < 500 else "internal_error")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return ApiError(405, code, f"{exc.method} is not allowed here (allowed: {allowed})")
    if exc.status == 404:
        return ApiError(404, code, "no such route")
    if exc.status == 413:
        return too_large()
    return ApiError(exc.status, code, exc.reason)


def _allow_header(exc: web.HTTPException) -> dict[str, str] | None:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return {"Allow": ", ".join(sorted(exc.allowed_methods))}
    return None


def _guard(request: web.Request) -> None:
    """Host, then browser markers, then the token (health needs none); 503 while stopping."""
    _check_host(request)
    if "Origin" in request.headers or request.headers.get("Sec-Fetch-Site", "none") != "none":
        raise ApiError(
            403,
            "forbidden_origin",
            "requests from web pages are refused (Origin or Sec-Fetch-Site)",
        )
    resource = request.match_info.route.resource
    public = resource is not None and resource.canonical in request.app[PUBLIC_PATHS]
    if not public:
        _check_token(request)
    if request.app[STOPPING].is_set():
        raise ApiError(503, "shutting_down", "the bridge is stopping")


def _check_host(request: web.Request) -> None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    host = request.headers.get("Host", "").lower()
    if port is None or host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
        raise ApiError(
            403, "forbidden_host", f"the Host header must be 127.0.0.1:{port} or localhost:{port}"
        )


def _check_token(request: web.Request) -> None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = request.app[TOKEN].encode()
    supplied = given.strip().encode("utf-8", "surrogateescape")
    if scheme.lower() != "bearer" or not hmac.compare_digest(supplied, expected):
        raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' is required")
