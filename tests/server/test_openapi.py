"""``/v1/openapi.json`` is generated from the models the handlers validate with, describes
exactly the routes the app serves, and matches the copy in ``docs/openapi.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import schemathesis

from bridge.jobs.models import AppliedRequest, JobRequest, JobView, PhotoList
from bridge.server.app import OPERATIONS, create_app, openapi_document
from bridge.settings import load_settings
from tests.server.conftest import UnreachedEngine
from tests.server.support import Live

DOCS_COPY = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node["$ref"].removeprefix("#/components/schemas/")
    return dict(spec["components"]["schemas"][ref])


async def test_served_document_is_the_generated_one(guarded: Live) -> None:
    answer = await guarded.call("GET", "/v1/openapi.json")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.body == openapi_document()
    assert answer.json["openapi"] == "3.1.0"


def test_docs_copy_is_current() -> None:
    """Regenerate with: python -m bridge.server.openapi > docs/openapi.json"""
    assert json.loads(DOCS_COPY.read_text(encoding="utf-8")) == json.loads(openapi_document())


def test_every_served_route_is_documented_and_back() -> None:
    app = create_app(engine=UnreachedEngine(), settings=load_settings(), token="t" * 43)  # type: ignore[arg-type]
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    spec = json.loads(openapi_document())
    documented = {(m.upper(), path) for path, item in spec["paths"].items() for m in item}
    assert served == documented
    assert len(documented) == len(OPERATIONS) == 15


def test_bodies_and_answers_are_the_pydantic_models() -> None:
    spec = json.loads(openapi_document())
    create = spec["paths"]["/v1/jobs"]["post"]
    body = _resolve(spec, create["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) == set(JobRequest.model_json_schema()["properties"])
    assert body["required"] == ["photos"]
    assert body["additionalProperties"] is False
    created = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert set(_resolve(spec, created)["properties"]) == set(JobView.model_fields)
    applied = spec["paths"]["/v1/jobs/{id}/applied"]["post"]
    schema = applied["requestBody"]["content"]["application/json"]["schema"]
    assert set(_resolve(spec, schema)["properties"]) == set(AppliedRequest.model_fields)
    photos = applied["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(_resolve(spec, photos)["properties"]) == set(PhotoList.model_fields)


def test_every_error_answer_is_the_error_shape() -> None:
    spec = json.loads(openapi_document())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert "default" in operation["responses"], (method, path)
            for status, answer in operation["responses"].items():
                if status == "default" or int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_only_health_is_public() -> None:
    spec = json.loads(openapi_document())
    public = [(m, p) for p, item in spec["paths"].items() for m, op in item.items()
              if op.get("security") == []]  # fmt: skip
    assert public == [("get", "/v1/health")]
    assert spec["security"] == [{"bearer": []}]


def test_schemathesis_accepts_the_document() -> None:
    schema = schemathesis.openapi.from_dict(json.loads(openapi_document()))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(OPERATIONS)
