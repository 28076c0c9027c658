"""AI tools, enhance, copilot and finalize: numbered versions of one image, real JPEGs."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from bridge.emulator.faults import FaultConfig
from tests.conftest import EmulatorFactory
from tests.emulator.support import (
    api,
    edit,
    get_bytes,
    jpeg_bytes,
    new_project,
    unwrap,
    wait_status,
)

REGULAR = {"project_source": "REGULAR"}


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> httpx.Response:
    return await client.post(path, json={**REGULAR, **body})


async def _finalized(client: httpx.AsyncClient, uuid: str) -> dict[str, bytes]:
    response = await client.post(f"/projects/{uuid}/finalize", json=REGULAR)
    assert response.status_code == 200, response.text
    files = unwrap(response.json())["files_list"]
    return {entry["file_name"]: await get_bytes(entry["download_link"]) for entry in files}


async def test_versions_build_on_each_other_and_finalize_takes_the_latest(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0))
    async with api(emulator) as client:
        # Two images whose names differ only in the extension: their versions stay apart.
        uuid = await new_project(client, {"a.jpg": jpeg_bytes(1), "a.jpeg": jpeg_bytes(2)})
        image = f"/projects/{uuid}/images/a.jpg"
        await edit(client, uuid, {"profile_key": 5702})
        early = await _post(client, f"{image}/enhance", {"tool_id": "denoise"})
        assert early.status_code == 400 and "not been exported" in early.text
        await client.post(f"/projects/{uuid}/export")
        await wait_status(client, f"/projects/{uuid}/export/status")
        exported = await _finalized(client, uuid)  # no versions yet: the exported JPEGs

        tools = await client.get(f"/projects/{uuid}/ai-tools", params=REGULAR)
        assert "denoise" in {tool["enhancement_type"] for tool in unwrap(tools.json())["prompts"]}
        first = unwrap((await _post(client, f"{image}/enhance", {"tool_id": "denoise"})).json())
        assert (first["status"], first["version_id"]) == ("SUCCESS", 1)
        first_bytes = await get_bytes(first["enhanced_image_url"])
        other = await _post(
            client, f"/projects/{uuid}/images/a.jpeg/enhance", {"tool_id": "denoise"}
        )
        assert unwrap(other.json())["version_id"] == 1
        second = await _post(
            client, f"{image}/copilot", {"instruction": "warmer", "parent_version_id": 1}
        )
        second_body = unwrap(second.json())
        assert second_body["version_id"] == 2
        second_bytes = await get_bytes(second_body["enhanced_image_url"])
        assert second_bytes != first_bytes
        assert await get_bytes(first["enhanced_image_url"]) == first_bytes  # not overwritten
        with Image.open(io.BytesIO(second_bytes)) as picture:
            picture.load()
            assert picture.format == "JPEG"

        finalized = await _finalized(client, uuid)
        assert finalized["a.jpg"] == second_bytes
        assert finalized["a.jpeg"] == await get_bytes(unwrap(other.json())["enhanced_image_url"])

        reset = await client.request("DELETE", f"{image}/copilot", json=REGULAR)
        assert reset.status_code == 200
        assert (await _finalized(client, uuid))["a.jpg"] == exported["a.jpg"]


async def test_enhance_refusals(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0))
    async with api(emulator) as client:
        uuid = await new_project(client, {"a.jpg": jpeg_bytes(1)}, family="i2i")
        await client.post(f"/i2i/projects/{uuid}/edit", json={})
        await wait_status(client, f"/i2i/projects/{uuid}")
        image = f"/projects/{uuid}/images/a.jpg"
        i2i = {"project_source": "I2I"}
        ok = await client.post(f"{image}/enhance", json={**i2i, "tool_id": "green_grass"})
        assert unwrap(ok.json())["version_id"] == 1
        refusals = [
            (f"{image}/enhance", {**REGULAR, "tool_id": "denoise"}, 404),  # the other family
            (f"{image}/enhance", {**i2i, "project_source": "OTHER", "tool_id": "denoise"}, 400),
            (f"{image}/enhance", {**i2i, "tool_id": "teleport"}, 400),
            (f"{image}/enhance", {**i2i, "tool_id": "denoise", "parent_version_id": 9}, 404),
            (f"{image}/copilot", {**i2i, "instruction": "  "}, 400),
            (f"{image}/copilot", {**i2i, "instruction": "x" * 256}, 400),
            (f"/projects/{uuid}/images/b.jpg/enhance", {**i2i, "tool_id": "denoise"}, 404),
        ]
        for path, body, status in refusals:
            response = await client.post(path, json=body)
            assert response.status_code == status, (path, body, response.text)
            assert response.json()["error"]["message"]
