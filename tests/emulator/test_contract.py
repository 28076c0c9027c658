"""Every emulator response validates against Imagen's own OpenAPI contract.

The test list is generated from the spec's paths: a documented operation without a call here
fails, and so does an emulator route the spec does not document.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from openapi_schema_validator import OAS31Validator

from bridge.emulator.app import EmulatorConfig, RunningEmulator, create_app, running_emulator
from bridge.emulator.faults import FaultConfig
from tests.conftest import SHARED
from tests.emulator.support import api, jpeg_bytes, new_project, put, unwrap, wait_status

SPEC_FILE = SHARED / "data" / "imagen-openapi" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")


@cache
def spec() -> dict[str, Any]:
    data = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def spec_operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec()["paths"].items()
        for method in METHODS
        if method in item
    ]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def response_schema(method: str, path: str, status: int) -> dict[str, Any] | None:
    responses = spec()["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} is not in the contract"
    response = _resolve(responses[str(status)])
    content = response.get("content")
    if content is None:
        return None
    # Local refs (#/components/...) resolve against the spec root carried alongside.
    return {**content["application/json"]["schema"], "components": spec()["components"]}


class World:
    """Projects in the states the operations need, made through the API itself."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def classic(self, *, edited: bool = True, exported: bool = False) -> str:
        uuid = await new_project(self.client, {"IMG_1.NEF": b"raw-1" * 50, "IMG_2.NEF": b"r2"})
        if edited:
            await self.client.post(
                f"/projects/{uuid}/edit", json={"profile_key": 5700}, headers={"Content-Type": ""}
            )
            await wait_status(self.client, f"/projects/{uuid}/edit/status")
        if exported:
            await self.client.post(f"/projects/{uuid}/export")
            await wait_status(self.client, f"/projects/{uuid}/export/status")
        return uuid

    async def i2i(self, *, edited: bool = True) -> str:
        uuid = await new_project(self.client, {"a.jpg": jpeg_bytes(1)}, family="i2i")
        if edited:
            await self.client.post(f"/i2i/projects/{uuid}/edit", json={})
            await wait_status(self.client, f"/i2i/projects/{uuid}")
        return uuid

    async def multipart(self) -> tuple[str, dict[str, Any]]:
        uuid = await self.i2i(edited=False)
        response = await self.client.post(
            f"/i2i/projects/{uuid}/multipart_uploads",
            json={"file_name": "big.jpg", "part_count": 1},
        )
        return uuid, unwrap(response.json())


Call = Callable[[World], Awaitable[httpx.Response]]


async def _edit(w: World) -> httpx.Response:
    uuid = await w.classic(edited=False)
    return await w.client.post(
        f"/projects/{uuid}/edit",
        json={"profile_key": 5700, "photography_type": "WEDDING", "crop": True},
        headers={"Content-Type": ""},
    )


async def _by_name(w: World) -> httpx.Response:
    await w.client.post("/projects/", json={"name": "Contract Wedding"})
    return await w.client.get("/projects/Contract Wedding/uuid")


async def _complete(w: World) -> httpx.Response:
    uuid, upload = await w.multipart()
    await put(upload["parts"][0]["upload_url"], jpeg_bytes(3))
    return await w.client.post(
        f"/i2i/projects/{uuid}/multipart_uploads/{upload['upload_id']}/complete",
        json={"file_name": "big.jpg"},
    )


async def _abort(w: World) -> httpx.Response:
    uuid, upload = await w.multipart()
    return await w.client.request(
        "DELETE",
        f"/i2i/projects/{uuid}/multipart_uploads/{upload['upload_id']}",
        json={"key": upload["key"]},
    )


async def _enhance(w: World, kind: str) -> httpx.Response:
    uuid = await w.classic(exported=True)
    body = {"project_source": "REGULAR"}
    if kind == "enhance":
        body["tool_id"] = "denoise"
    elif kind == "copilot":
        body["instruction"] = "warmer skin tones"
    method = "DELETE" if kind == "reset" else "POST"
    endpoint = "enhance" if kind == "enhance" else "copilot"
    return await w.client.request(
        method, f"/projects/{uuid}/images/IMG_1.jpg/{endpoint}", json=body
    )


CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/profiles"): lambda w: w.client.get("/profiles"),
    ("GET", "/projects/sky_replacement/templates"): lambda w: w.client.get(
        "/projects/sky_replacement/templates"
    ),
    ("POST", "/projects/"): lambda w: w.client.post("/projects/", json={"name": "Contract"}),
    ("GET", "/projects"): lambda w: _after(w.classic(), lambda _: w.client.get("/projects?size=5")),
    ("GET", "/projects/{uuid}"): lambda w: _after(
        w.classic(), lambda u: w.client.get(f"/projects/{u}")
    ),
    ("GET", "/projects/{name}/uuid"): _by_name,
    ("POST", "/projects/{uuid}/get_temporary_upload_links"): lambda w: _after(
        w.classic(edited=False),
        lambda u: w.client.post(
            f"/projects/{u}/get_temporary_upload_links",
            json={"files_list": [{"file_name": "IMG_9.CR3", "md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}]},
        ),
    ),
    ("POST", "/projects/{uuid}/edit"): _edit,
    ("GET", "/projects/{uuid}/edit/status"): lambda w: _after(
        w.classic(), lambda u: w.client.get(f"/projects/{u}/edit/status")
    ),
    ("GET", "/projects/{uuid}/edit/get_temporary_download_links"): lambda w: _after(
        w.classic(), lambda u: w.client.get(f"/projects/{u}/edit/get_temporary_download_links")
    ),
    ("POST", "/projects/{uuid}/export"): lambda w: _after(
        w.classic(), lambda u: w.client.post(f"/projects/{u}/export")
    ),
    ("GET", "/projects/{uuid}/export/status"): lambda w: _after(
        w.classic(exported=True), lambda u: w.client.get(f"/projects/{u}/export/status")
    ),
    ("GET", "/projects/{uuid}/export/get_temporary_download_links"): lambda w: _after(
        w.classic(exported=True),
        lambda u: w.client.get(f"/projects/{u}/export/get_temporary_download_links"),
    ),
    ("GET", "/projects/{uuid}/export/get_upload_link"): lambda w: _after(
        w.classic(exported=True),
        lambda u: w.client.get(f"/projects/{u}/export/get_upload_link?file_name=IMG_1.jpg"),
    ),
    ("GET", "/projects/{uuid}/export/get_download_link"): lambda w: _after(
        w.classic(exported=True),
        lambda u: w.client.get(f"/projects/{u}/export/get_download_link?file_name=IMG_1.jpg"),
    ),
    ("GET", "/projects/{uuid}/ai-tools"): lambda w: _after(
        w.classic(exported=True),
        lambda u: w.client.get(f"/projects/{u}/ai-tools?project_source=REGULAR"),
    ),
    ("POST", "/projects/{uuid}/images/{filename}/enhance"): lambda w: _enhance(w, "enhance"),
    ("POST", "/projects/{uuid}/images/{filename}/copilot"): lambda w: _enhance(w, "copilot"),
    ("DELETE", "/projects/{uuid}/images/{filename}/copilot"): lambda w: _enhance(w, "reset"),
    ("POST", "/projects/{uuid}/finalize"): lambda w: _after(
        w.classic(exported=True),
        lambda u: w.client.post(f"/projects/{u}/finalize", json={"project_source": "REGULAR"}),
    ),
    ("POST", "/i2i/projects/"): lambda w: w.client.post("/i2i/projects/", json={}),
    ("GET", "/i2i/projects"): lambda w: _after(w.i2i(), lambda _: w.client.get("/i2i/projects")),
    ("GET", "/i2i/projects/is_valid_name"): lambda w: w.client.get(
        "/i2i/projects/is_valid_name?name=Summer"
    ),
    ("GET", "/i2i/projects/{uuid}"): lambda w: _after(
        w.i2i(), lambda u: w.client.get(f"/i2i/projects/{u}")
    ),
    ("POST", "/i2i/projects/{uuid}/get_temporary_upload_links"): lambda w: _after(
        w.i2i(edited=False),
        lambda u: w.client.post(
            f"/i2i/projects/{u}/get_temporary_upload_links",
            json={"files_list": [{"file_name": "b.jpeg"}], "client_type": "API"},
        ),
    ),
    ("GET", "/i2i/projects/{uuid}/get_upload_link"): lambda w: _after(
        w.i2i(edited=False),
        lambda u: w.client.get(f"/i2i/projects/{u}/get_upload_link?file_name=c.jpg"),
    ),
    ("POST", "/i2i/projects/{uuid}/multipart_uploads"): lambda w: _after(
        w.i2i(edited=False),
        lambda u: w.client.post(
            f"/i2i/projects/{u}/multipart_uploads", json={"file_name": "d.jpg", "part_count": 3}
        ),
    ),
    ("POST", "/i2i/projects/{uuid}/multipart_uploads/{upload_id}/complete"): _complete,
    ("DELETE", "/i2i/projects/{uuid}/multipart_uploads/{upload_id}"): _abort,
    ("POST", "/i2i/projects/{uuid}/edit"): lambda w: _after(
        w.i2i(edited=False),
        lambda u: w.client.post(f"/i2i/projects/{u}/edit", json={"hdr_merge": True}),
    ),
    ("GET", "/i2i/projects/{uuid}/get_temporary_download_links"): lambda w: _after(
        w.i2i(), lambda u: w.client.get(f"/i2i/projects/{u}/get_temporary_download_links")
    ),
    ("GET", "/i2i/projects/{uuid}/get_download_link"): lambda w: _after(
        w.i2i(), lambda u: w.client.get(f"/i2i/projects/{u}/get_download_link?file_name=a.jpg")
    ),
}


async def _after(
    setup: Awaitable[str], call: Callable[[str], Awaitable[httpx.Response]]
) -> httpx.Response:
    return await call(await setup)


def _documented_shape(method: str, path: str, body: Any, envelope: str) -> Any:
    """Two documented production/legacy shapes differ from the spec's bare list.

    - ``GET /profiles``: legacy/beta (our ``data`` envelope) is ``{"data": {"profiles": [...]}}``
      (spec description; the SDK parses both).
    - ``GET /projects/sky_replacement/templates``: production is ``{"templates": [...]}``
      (the official SDK accepts only that; the Go SDK notes the spec's bare list is wrong).
    The inner lists are still validated against the spec's schema.
    """
    if (method, path) == ("GET", "/profiles") and envelope == "data":
        assert set(body) == {"profiles"}
        return body["profiles"]
    if (method, path) == ("GET", "/projects/sky_replacement/templates"):
        assert set(body) == {"templates"}
        return body["templates"]
    return body


def test_every_documented_operation_has_a_contract_call() -> None:
    assert set(CALLS) == set(spec_operations())


def test_every_emulator_route_is_documented() -> None:
    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    documented = {(method, shape(path)) for method, path in spec_operations()}
    served = {
        (route.method, shape(route.resource.canonical))
        for route in create_app().router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/v1/")
        and route.method != "HEAD"
    }
    assert {(m, "/v1" + p) for m, p in documented} >= served
    assert {(m, "/v1" + p) for m, p in documented} == served


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def emulators() -> AsyncIterator[dict[str, RunningEmulator]]:
    """One emulator per envelope for the whole module: each call makes its own projects."""
    fast = FaultConfig(processing_s=0)
    async with (
        running_emulator(EmulatorConfig(envelope="bare", faults=fast)) as bare,
        running_emulator(EmulatorConfig(envelope="data", faults=fast)) as data,
    ):
        yield {"bare": bare, "data": data}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("envelope", ["bare", "data"])
@pytest.mark.parametrize(("method", "path"), spec_operations(), ids=lambda v: str(v))
async def test_response_matches_contract(
    emulators: dict[str, RunningEmulator], envelope: str, method: str, path: str
) -> None:
    async with api(emulators[envelope]) as client:
        response = await CALLS[(method, path)](World(client))
    assert response.is_success, f"{response.status_code}: {response.text}"
    schema = response_schema(method, path, response.status_code)
    if schema is None:
        assert not response.content
        return
    raw = response.json()
    if envelope == "data":
        assert set(raw) == {"data"}
    body = _documented_shape(method, path, unwrap(raw), envelope)
    OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER).validate(body)
