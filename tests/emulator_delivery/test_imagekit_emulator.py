"""The ImageKit emulator's rules, as its documentation states them, over real sockets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bridge.emulator.app import RunningEmulator
from bridge.emulator.imagekit import ImagekitConfig
from tests.emulator_delivery.support import IMAGEKIT_KEY, imagekit, jpeg_bytes, records

UPLOAD = "/api/v1/files/upload"


async def upload(client: httpx.AsyncClient, data: bytes, **fields: str) -> httpx.Response:
    fields.setdefault("fileName", "a.jpg")
    return await client.post(
        UPLOAD, data=fields, files={"file": ("ignored", data, "application/octet-stream")}
    )


async def test_file_part_first_and_names_sanitised(delivery_emulator: RunningEmulator) -> None:
    async with imagekit(delivery_emulator) as client:
        response = await client.post(
            UPLOAD,
            files=[
                ("file", ("x", jpeg_bytes(1), "image/jpeg")),
                ("fileName", (None, "婚礼 05 (final)#1.jpg")),
                ("useUniqueFileName", (None, "false")),
            ],
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "婚礼_05__final__1.jpg"
        assert response.json()["filePath"] == "/婚礼_05__final__1.jpg"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"tags": "a%b"}, "%"),
        ({"tags": ",".join(["t" * 10] * 50)}, "500"),
        ({"folder": "/".join(["d"] * 51)}, "depth"),
        ({"folder": "/a.b/c"}, "folder"),
        ({"useUniqueFileName": "yes"}, "boolean"),
        ({"customMetadata": "[1]"}, "customMetadata"),
        ({"responseFields": "tags,secrets"}, "responseFields"),
        ({"fileName": ""}, "fileName"),
    ],
)
async def test_bad_fields_are_400s(
    delivery_emulator: RunningEmulator, fields: dict[str, str], words: str
) -> None:
    async with imagekit(delivery_emulator) as client:
        response = await upload(client, jpeg_bytes(), **fields)
    assert response.status_code == 400
    body = response.json()
    assert words in body["message"] and body["help"]
    assert (await records(delivery_emulator, "imagekit"))["uploads"] == []


async def test_missing_file_and_not_multipart(delivery_emulator: RunningEmulator) -> None:
    async with imagekit(delivery_emulator) as client:
        no_file = await client.post(UPLOAD, files={"fileName": (None, "a.jpg")})
        assert no_file.status_code == 400 and "file" in no_file.json()["message"]
        json_body = await client.post(UPLOAD, json={"fileName": "a.jpg"})
        assert json_body.status_code == 400


async def test_overwrite_policy_and_versions(delivery_emulator: RunningEmulator) -> None:
    async with imagekit(delivery_emulator) as client:
        exact = {"useUniqueFileName": "false", "folder": "/w"}
        first = (await upload(client, jpeg_bytes(1), tags="a,b", **exact)).json()
        refused = await upload(client, jpeg_bytes(2), overwriteFile="false", **exact)
        assert refused.status_code == 400 and "already exists" in refused.json()["message"]
        kept_tags = await upload(client, jpeg_bytes(3), overwriteTags="false", **exact)
        replaced = kept_tags.json()
        assert replaced["fileId"] == first["fileId"]
        assert replaced["versionInfo"]["name"] == "Version 2" and replaced["tags"] == ["a", "b"]
        dropped_tags = (await upload(client, jpeg_bytes(4), **exact)).json()
        assert dropped_tags["tags"] is None and dropped_tags["versionInfo"]["name"] == "Version 3"
    held = await records(delivery_emulator, "imagekit")
    assert [f["versions"] for f in held["files"]] == [3]


async def test_size_limit_and_metadata_fields(delivery_factory: Any) -> None:
    emulator = await delivery_factory(
        imagekit=ImagekitConfig(
            private_key=IMAGEKIT_KEY, max_file_size=1000, custom_metadata_fields=frozenset({"job"})
        )
    )
    async with imagekit(emulator) as client:
        too_big = await upload(client, b"\xff\xd8\xff" + b"\0" * 2000)
        assert too_big.status_code == 400 and "1000" in too_big.json()["message"]
        unknown = await upload(client, jpeg_bytes(), customMetadata='{"job": "j", "x": 1}')
        assert unknown.status_code == 400 and "x" in unknown.json()["message"]
        known = await upload(client, jpeg_bytes(), customMetadata='{"job": "j"}')
        assert known.status_code == 200


async def test_auth_list_and_errors(delivery_emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(base_url=delivery_emulator.imagekit_url) as anonymous:
        response = await anonymous.get("/v1/files")
        assert response.status_code == 401 and "private API key" in response.json()["message"]
    async with imagekit(delivery_emulator, key="private_nope") as wrong:
        assert (await wrong.get("/v1/files")).status_code == 403
    async with imagekit(delivery_emulator) as client:
        listed = await client.get("/v1/files")
        assert listed.json() == []
        for header in (
            "X-RateLimit-Limit",
            "X-RateLimit-Reset",
            "X-RateLimit-Interval",
            "x-ik-requestId",
        ):
            assert header in listed.headers
        assert (await client.get("/v1/files", params={"limit": 0})).status_code == 400
        assert (
            await client.get("/v1/files", params={"searchQuery": "size > 1"})
        ).status_code == 400
        gone = await client.get("/v1/files/nope/details")
        assert (
            gone.status_code == 404
            and gone.json()["message"] == "The requested file does not exist."
        )
        missing = await client.post("/v1/files/batch/deleteByFileIds", json={"fileIds": ["nope"]})
        assert missing.status_code == 404 and missing.json()["missingFileIds"] == ["nope"]
        too_many = await client.post(
            "/v1/files/batch/deleteByFileIds", json={"fileIds": ["x"] * 101}
        )
        assert too_many.status_code == 400
