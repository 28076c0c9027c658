"""Each route declared once, with its inputs and outputs as pydantic types.

An :class:`Operation` is both what the app routes (its handler gets the query and body
already parsed and validated) and what ``/v1/openapi.json`` describes, so the spec cannot
drift from what the handlers accept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from bridge.server.errors import MAX_BODY_BYTES, ApiError, bad_request, from_validation, too_large

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Param:
    """A query or header parameter; ``type`` parses it (pydantic, lax) and gives its schema."""

    name: str
    type: Any
    description: str
    default: Any = None
    repeated: bool = False

    @cached_property
    def adapter(self) -> TypeAdapter[Any]:
        list_of: Any = list  # a runtime type: mypy cannot check list[self.type]
        return TypeAdapter(list_of[self.type] if self.repeated else self.type)

    def parse(self, values: list[str]) -> Any:
        if not values:
            return [] if self.repeated else self.default
        if len(values) > 1 and not self.repeated:
            problem = f"given {len(values)} times; give it once"
            raise bad_request(f"{self.name}: {problem}", self.name, problem)
        try:
            return self.adapter.validate_python(values if self.repeated else values[0])
        except ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
            raise bad_request(f"{self.name}: {problem}", self.name, problem) from None

    def schema(self, ref_template: str) -> dict[str, Any]:
        """Its JSON schema; any ``$defs`` (enums) are left in for the caller to hoist."""
        schema = self.adapter.json_schema(ref_template=ref_template)
        if self.default is not None:
            schema["default"] = self.adapter.dump_python(self.default, mode="json")
        return schema


@dataclass(slots=True)
class Call:
    """One request with its declared inputs parsed."""

    request: web.Request
    query: Mapping[str, Any]
    headers: Mapping[str, Any]
    body: BaseModel | None

    def body_as(self, model: type[M]) -> M:
        """The body of an operation whose body is required (already validated as ``model``)."""
        assert isinstance(self.body, model)
        return self.body

    def optional_body_as(self, model: type[M]) -> M | None:
        assert self.body is None or isinstance(self.body, model)
        return self.body

    @property
    def app(self) -> web.Application:
        return self.request.app


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RawBody:
    """A response body that is no pydantic model: its media type and JSON schema."""

    media_type: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Operation:
    """A route: method, path (``/v1/jobs/{id}``), inputs, and the bodies of its answers.

    ``responses`` maps each success status to its body model (or :class:`RawBody`);
    errors are always :class:`ErrorResponse`.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    responses: Mapping[int, type[BaseModel] | RawBody]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    public: bool = False  # no token needed
    tags: tuple[str, ...] = field(default=())

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")

    def bind(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The aiohttp handler: parse the declared inputs, then call ``handler``."""

        async def handle(request: web.Request) -> web.StreamResponse:
            query = _parse_query(request, self.query)
            headers = {p.name: p.parse(request.headers.getall(p.name, [])) for p in self.headers}
            body = await _read_body(request, self) if request.method == "POST" else None
            return await self.handler(Call(request, query, headers, body))

        handle.__name__ = self.operation_id
        return handle


def _parse_query(request: web.Request, params: tuple[Param, ...]) -> dict[str, Any]:
    if not request.query_string:  # most requests (the polls): every parameter defaults
        return {p.name: p.parse([]) for p in params}
    known = {p.name for p in params}
    unknown = sorted(set(request.query) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        problem = f"unknown query parameter (this route takes: {allowed})"
        raise bad_request(f"{unknown[0]}: {problem}", unknown[0], problem)
    return {p.name: p.parse(request.query.getall(p.name, [])) for p in params}


async def _read_body(request: web.Request, operation: Operation) -> BaseModel | None:
    """The JSON body validated with the operation's model: 415, 413, 400 or 422 otherwise."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large()
    has_body = request.body_exists and request.content_length != 0
    if has_body and request.content_type != JSON_TYPE:
        shown = request.content_type or "none"
        raise ApiError(
            415, "unsupported_media_type",
            f"the body must be {JSON_TYPE} (Content-Type was {shown})",
        )  # fmt: skip
    raw = await request.read() if has_body else b""
    if len(raw) > MAX_BODY_BYTES:
        raise too_large()
    model = operation.body
    if model is None:
        return None
    if not raw.strip():
        if operation.body_required:
            raise bad_request(f"this route needs a JSON body ({model.__name__})")
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise bad_request("the body is not valid JSON (UTF-8)") from None
        raise from_validation(exc) from None


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    """A model as JSON (pydantic's own serializer: fast, and UTF-8 kept as is)."""
    return json_body(model.model_dump_json().encode("utf-8"), status)


def json_body(body: bytes, status: int = 200) -> web.Response:
    """Serialized JSON as the answer."""
    return web.Response(body=body, status=status, headers=_JSON_HEADERS)


_JSON_HEADERS = {"Content-Type": f"{JSON_TYPE}; charset=utf-8"}
