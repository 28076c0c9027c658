"""Small HTTP helpers for talking to the emulator the way a client would (httpx, real sockets)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
from PIL import Image

from bridge.emulator.app import RunningEmulator

API_KEY = "test-key"


def http(**kwargs: Any) -> httpx.AsyncClient:
    """A plain client; loopback HTTP only, so skip loading the CA bundle (slow, unused)."""
    return httpx.AsyncClient(verify=False, timeout=30, **kwargs)


def unwrap(body: Any) -> Any:
    """Imagen's envelope rule: a body whose only key is ``data`` stands for its value."""
    if isinstance(body, dict) and set(body) == {"data"}:
        return body["data"]
    return body


def api(emulator: RunningEmulator, key: str = API_KEY) -> httpx.AsyncClient:
    return http(base_url=emulator.base_url, headers={"x-api-key": key})


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (32, 24)) -> bytes:
    """A real JPEG from an independent encoder (Pillow), with an Exif segment."""
    image = Image.new("RGB", size, ((seed * 40) % 256, 120, 200))
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    image.save(out, format="JPEG", quality=80, exif=exif.tobytes())
    return out.getvalue()


async def put(url: str, data: bytes) -> None:
    async with http() as client:
        response = await client.put(url, content=data, headers={"Content-Type": ""})
        response.raise_for_status()


async def get_bytes(url: str) -> bytes:
    async with http() as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


async def new_project(
    client: httpx.AsyncClient, files: dict[str, bytes], *, family: str = "classic"
) -> str:
    prefix = "/i2i/projects" if family == "i2i" else "/projects"
    created = await client.post(f"{prefix}/", json={})
    created.raise_for_status()
    uuid = str(unwrap(created.json())["project_uuid"])
    if files:
        links = await client.post(
            f"{prefix}/{uuid}/get_temporary_upload_links",
            json={"files_list": [{"file_name": name} for name in files]},
        )
        links.raise_for_status()
        for entry in unwrap(links.json())["files_list"]:
            await put(entry["upload_link"], files[entry["file_name"]])
    return uuid


async def wait_status(
    client: httpx.AsyncClient, path: str, field: str = "status"
) -> dict[str, Any]:
    """Poll ``path`` until its status is terminal (case-insensitive); fails after 10 s."""
    for _ in range(200):
        response = await client.get(path)
        response.raise_for_status()
        body = unwrap(response.json())
        if str(body[field]).lower() in ("completed", "failed"):
            return dict(body)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never reached a terminal status")


async def edit(
    client: httpx.AsyncClient, uuid: str, body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Start an edit, wait for it, and return (final status, {file_name: download link})."""
    started = await client.post(f"/projects/{uuid}/edit", json=body, headers={"Content-Type": ""})
    assert started.status_code == 200, started.text
    status = await wait_status(client, f"/projects/{uuid}/edit/status")
    links: dict[str, str] = {}
    if status["status"].lower() == "completed":
        response = await client.get(f"/projects/{uuid}/edit/get_temporary_download_links")
        response.raise_for_status()
        links = {e["file_name"]: e["download_link"] for e in unwrap(response.json())["files_list"]}
    return status, links
