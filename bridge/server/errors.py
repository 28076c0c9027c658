"""The one error shape of the API, ``{"error": {"code", "message", "details"}}``, and the
exception handlers raise to answer with it."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

#: Bodies larger than this are refused (413) before they are read whole.
MAX_BODY_BYTES = 8 * 2**20


class ErrorDetail(BaseModel):
    """One problem of a request; ``path`` names the field (``photos.3.path``) or is empty."""

    path: str
    message: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorInfo


class ApiError(Exception):
    """Answer ``status`` with this code and message; never carries a secret."""

    def __init__(
        self, status: int, code: str, message: str, details: Sequence[ErrorDetail] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)

    def __reduce__(self) -> tuple[type[ApiError], tuple[int, str, str, list[ErrorDetail]]]:
        """Picklable: merges run in a worker process and raise these back."""
        return (ApiError, (self.status, self.code, self.message, self.details))

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        body = ErrorResponse(
            error=ErrorInfo(code=self.code, message=self.message, details=self.details)
        )
        return web.json_response(text=body.model_dump_json(), status=self.status, headers=headers)


def bad_request(message: str, path: str = "", problem: str | None = None) -> ApiError:
    """400; ``problem`` is the detail's own message when ``message`` names the path itself."""
    detail = ErrorDetail(path=path, message=problem or message)
    return ApiError(400, "bad_request", message, [detail])


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def too_large() -> ApiError:
    return ApiError(
        413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES // 2**20} MiB"
    )


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def validation_failed(details: Sequence[ErrorDetail]) -> ApiError:
    """422 naming every problem; the message is the first one, path first, as docs/api.md shows."""
    first = details[0] if details else ErrorDetail(path="", message="invalid request")
    message = f"{first.path}: {first.message}" if first.path else first.message
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return ApiError(422, "validation_error", message, details)


def from_validation(exc: ValidationError, prefix: str = "") -> ApiError:
    """pydantic's errors as details with dotted paths; the input values are never echoed."""
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        details.append(ErrorDetail(path=".".join(p for p in (prefix, where) if p), message=message))
    return validation_failed(details)
