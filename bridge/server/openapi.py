"""``/v1/openapi.json``: OpenAPI 3.1 built from the operations and their pydantic models.

Request bodies are described as pydantic validates them, responses as it serializes them;
``models_json_schema`` names the two apart when they differ. Every operation may also
answer the one error shape, :class:`ErrorResponse`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bridge import __version__
from bridge.server.errors import ErrorResponse
from bridge.server.operations import JSON_TYPE, Operation, RawBody

_REF = "#/components/schemas/{model}"
#: Every route but the public ones may answer these, whatever their own errors.
_COMMON_ERRORS = (400, 401, 403, 503)
_PATH_PARAM = re.compile(r"{(\w+)}")
_Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


def build_spec(operations: Iterable[Operation]) -> dict[str, Any]:
    operations = list(operations)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for op in operations:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        wanted += [
            (model, "serialization")
            for model in op.responses.values()
            if not isinstance(model, RawBody)
        ]
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=_REF)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imagen-bridge localhost API",
            "version": __version__,
            "description": "Drive Imagen AI edits from Lightroom, other editors and scripts. "
            "See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(op: Operation, refs: _Refs, schemas: dict[str, Any]) -> dict[str, Any]:
    error = {JSON_TYPE: {"schema": refs[(ErrorResponse, "serialization")]}}
    responses: dict[str, Any] = {}
    for status, model in op.responses.items():
        content = (
            {model.media_type: {"schema": dict(model.schema)}}
            if isinstance(model, RawBody)
            else {JSON_TYPE: {"schema": refs[(model, "serialization")]}}
        )
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": content}
    statuses = sorted(set(op.errors) | set(() if op.public else _COMMON_ERRORS))
    for status in statuses:
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": error}
    responses["default"] = {"description": "Any other error", "content": error}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)
    ]
    for where, params in (("query", op.query), ("header", op.headers)):
        for param in params:
            schema = param.schema(_REF)
            schemas.update(schema.pop("$defs", {}))
            parameters.append(
                {
                    "name": param.name,
                    "in": where,
                    "required": False,
                    "description": param.description,
                    "schema": schema,
                    **({"style": "form", "explode": True} if param.repeated else {}),
                }
            )
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": list(op.tags),
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        spec["requestBody"] = {
            "required": op.body_required,
            "content": {JSON_TYPE: {"schema": refs[(op.body, "validation")]}},
        }
    if op.public:
        spec["security"] = []
    return spec


if __name__ == "__main__":  # python -m bridge.server.openapi > docs/openapi.json
    import json
    import sys

    from bridge.server.app import OPERATIONS

    json.dump(build_spec(OPERATIONS), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
