"""Every Imgwire emulator answer validates against Imgwire's own OpenAPI document.

A validating client checks each answer of the scenario below against the operation's
declared response (200 or 422); answers the document does not declare (401, 404, 409) must
be Imgwire's ``{"detail", "error_type"}`` domain errors. The last test fails if an
operation of the document under ``/api/v1/images`` was never exercised.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator

from bridge.emulator.app import RunningEmulator
from tests.conftest import SHARED
from tests.emulator_delivery.support import (
    IMGWIRE_KEY,
    jpeg_bytes,
    standard_upload,
    until,
)

SPEC = SHARED / "data" / "imgwire-openapi" / "openapi.json"
API = "/api/v1/images"
SEEN: set[tuple[str, str, int]] = set()


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return data


def operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec()["paths"].items()
        if path.startswith(API)
        for method in ("get", "post", "delete", "put", "patch")
        if method in item
    ]


def _template(method: str, path: str) -> str:
    """The document's path for a request path: literal paths win over ``{params}``."""
    candidates = [p for m, p in operations() if m == method]
    for template in sorted(candidates, key=lambda p: p.count("{")):
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{method} {path} is not an operation of Imgwire's document")


def check(response: httpx.Response) -> None:
    request = response.request
    path = request.url.path.removeprefix("/imgwire")
    template = _template(request.method, path)
    status = response.status_code
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = json.loads(response.content)
    declared = spec()["paths"][template][request.method.lower()]["responses"]
    if str(status) not in declared:
        assert set(body) == {"detail", "error_type"}, body
        assert isinstance(body["detail"], str) and isinstance(body["error_type"], str)
        return
    answer = declared[str(status)]
    schema = {**answer["content"]["application/json"]["schema"], "components": spec()["components"]}
    OAS31Validator(schema).validate(body)
    for header in answer.get("headers", {}):
        assert isinstance(response.headers.get(header), str), f"{template}: no {header}"
    SEEN.add((request.method, template, status))


async def _checked(response: httpx.Response) -> None:
    await response.aread()
    check(response)


def validating(emulator: RunningEmulator, key: str = IMGWIRE_KEY) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=emulator.imgwire_url + API,
        headers={"Authorization": f"Bearer {key}"},
        event_hooks={"response": [_checked]},
        timeout=30,
    )


async def scenario_upload_lifecycle_and_reads(delivery_emulator: RunningEmulator) -> None:
    async with validating(delivery_emulator) as api:
        data = jpeg_bytes(1, (64, 48))
        created = await standard_upload(
            api,
            data,
            "Hochzeit Müller 婚礼 🌅.jpg",
            custom_metadata={"job": "j1", "photo": 3, "ratio": 1.5, "ok": True},
            purpose="delivery",
            idempotency_key="job-1/photo-3",
        )
        image = created["image"]
        assert image["status"] == "PENDING" and image["can_upload"] is True
        ready = await until(api, f"/{image['id']}", {"READY", "QUARANTINE"})
        assert ready["status"] == "READY"
        assert (ready["width"], ready["height"], ready["size_bytes"]) == (64, 48, len(data))
        assert ready["custom_metadata"] == {"job": "j1", "photo": 3, "ratio": 1.5, "ok": True}
        for page in (1, 2):
            listed = await api.get("/", params={"page": page, "limit": 1})
            assert listed.status_code == 200
        token = await api.post("/token")
        assert token.status_code == 200
        bad_header = await api.post("/token", headers={"X-Environment-Id": "not-a-uuid"})
        assert bad_header.status_code == 422


async def scenario_idempotency_key_returns_the_same_image(
    delivery_emulator: RunningEmulator,
) -> None:
    async with validating(delivery_emulator) as api:
        body = {"file_name": "a.jpg", "mime_type": "image/jpeg", "idempotency_key": "k"}
        first = (await api.post("/standard_upload", json=body)).json()
        again = (await api.post("/standard_upload", json=body)).json()
        assert first["image"]["id"] == again["image"]["id"]
        other = await api.post("/standard_upload", json={**body, "file_name": "b.jpg"})
        assert other.status_code == 409
        assert other.json()["error_type"] == "OperationNotAllowedError"


async def scenario_wrong_bytes_or_hash_are_quarantined(delivery_emulator: RunningEmulator) -> None:
    async with validating(delivery_emulator) as api:
        png_named_jpeg = await standard_upload(api, b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "x.jpg")
        bad_hash = await standard_upload(api, jpeg_bytes(2), "y.jpg", hash_sha256="0" * 64)
        for created in (png_named_jpeg, bad_hash):
            final = await until(api, f"/{created['image']['id']}", {"READY", "QUARANTINE"})
            assert final["status"] == "QUARANTINE"


async def scenario_put_must_carry_the_declared_type(delivery_emulator: RunningEmulator) -> None:
    async with validating(delivery_emulator) as api:
        data = jpeg_bytes(3)
        body = {"file_name": "a.jpg", "mime_type": "image/jpeg", "content_length": len(data)}
        created = (await api.post("/standard_upload", json=body)).json()
    async with httpx.AsyncClient() as plain:
        wrong = await plain.put(
            created["upload_url"], content=data, headers={"Content-Type": "image/png"}
        )
        assert wrong.status_code == 403
        short = await plain.put(
            created["upload_url"], content=data[:-1], headers={"Content-Type": "image/jpeg"}
        )
        assert short.status_code == 400 and "content_length" in short.json()["detail"]
        tampered = created["upload_url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
        forged = await plain.put(tampered, content=data, headers={"Content-Type": "image/jpeg"})
        assert forged.status_code == 403


async def scenario_validation_errors_are_fastapi_422s(delivery_emulator: RunningEmulator) -> None:
    async with validating(delivery_emulator) as api:
        bad = await api.post(
            "/standard_upload",
            json={
                "file_name": "",
                "mime_type": "image/x-raw",
                "content_length": -1,
                "purpose": "p" * 256,
            },
        )
        assert bad.status_code == 422
        locs = {tuple(item["loc"]) for item in bad.json()["detail"]}
        assert locs == {
            ("body", "file_name"),
            ("body", "mime_type"),
            ("body", "content_length"),
            ("body", "purpose"),
        }
        assert (await api.post("/standard_upload", content=b"{nope")).status_code == 422
        assert (await api.post("/upload_via_url", json={"url": "not a url"})).status_code == 422
        assert (await api.get("/", params={"limit": 101})).status_code == 422
        assert (await api.get("/", params={"page": 0})).status_code == 422
        assert (await api.get("/not-a-uuid")).status_code == 422
        assert (await api.delete("/not-a-uuid")).status_code == 422
        assert (await api.post("/bulk_delete", json={"image_ids": []})).status_code == 422
        assert (await api.post("/downloads", json={"image_ids": []})).status_code == 422
        assert (await api.get("/downloads/not-a-uuid")).status_code == 422


async def scenario_domain_errors(delivery_emulator: RunningEmulator) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    async with validating(delivery_emulator) as api:
        gone = await api.get(f"/{missing}")
        assert gone.status_code == 404 and gone.json()["error_type"] == "ResourceNotFoundError"
        assert (await api.delete(f"/{missing}")).status_code == 404
        assert (await api.post("/bulk_delete", json={"image_ids": [missing]})).status_code == 404
        assert (await api.get(f"/downloads/{missing}")).status_code == 404
    async with validating(delivery_emulator, key="wrong") as api:
        refused = await api.get("/")
        assert refused.status_code == 401 and refused.json()["error_type"] == "InvalidTokenError"
    async with httpx.AsyncClient() as plain:
        unauthenticated = await plain.get(delivery_emulator.imgwire_url + API + "/")
        assert unauthenticated.status_code == 401


async def scenario_delete_bulk_delete_and_downloads(delivery_emulator: RunningEmulator) -> None:
    async with validating(delivery_emulator) as api:
        ids = []
        for seed in range(3):
            created = await standard_upload(api, jpeg_bytes(seed), f"p{seed}.jpg")
            ids.append(created["image"]["id"])
            await until(api, f"/{ids[-1]}", {"READY"})
        job = (await api.post("/downloads", json={"image_ids": ids[:2]})).json()
        assert job["status"] in ("PENDING", "PROCESSING") and job["download_url"] is None
        done = await until(api, f"/downloads/{job['id']}", {"READY", "FAILED"})
        assert done["status"] == "READY" and done["download_url"]
        assert (await api.delete(f"/{ids[0]}")).status_code == 200
        assert (await api.get(f"/{ids[0]}")).status_code == 404
        assert (await api.post("/bulk_delete", json={"image_ids": ids[1:]})).status_code == 200
        listed = await api.get("/")
        assert listed.json() == [] and listed.headers["X-Total-Count"] == "0"


async def scenario_upload_via_url_fetches_a_loopback_source(
    delivery_emulator: RunningEmulator,
) -> None:
    async with validating(delivery_emulator) as api:
        source = await standard_upload(api, jpeg_bytes(7, (40, 30)), "source.jpg")
        ready = await until(api, f"/{source['image']['id']}", {"READY"})
        copied = await api.post(
            "/upload_via_url", json={"url": ready["cdn_url"], "custom_metadata": {"job": "j"}}
        )
        assert copied.status_code == 200 and copied.json()["status"] == "PENDING"
        final = await until(api, f"/{copied.json()['id']}", {"READY", "QUARANTINE"})
        assert final["status"] == "READY" and (final["width"], final["height"]) == (40, 30)
        remote = await api.post("/upload_via_url", json={"url": "https://example.com/a.jpg"})
        assert remote.status_code == 422


SCENARIOS = [value for name, value in sorted(globals().items()) if name.startswith("scenario_")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("scenario_"))
async def test_scenario(scenario: Any, delivery_emulator: RunningEmulator) -> None:
    await scenario(delivery_emulator)


async def test_every_operation_was_exercised(delivery_factory: Any) -> None:
    """All scenarios together answer every operation with both its 200 and its 422."""
    SEEN.clear()
    for scenario in SCENARIOS:
        await scenario(await delivery_factory())
    missing = [
        f"{method} {path} -> {status}"
        for method, path in operations()
        for status in (200, 422)
        if (method, path, status) not in SEEN
    ]
    assert not missing, f"never exercised: {missing}"
