"""Helpers for the delivery emulators' tests: clients, JPEGs, polling, the upload records."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx

from bridge.emulator.app import RunningEmulator
from tests.emulator.support import jpeg_bytes

IMGWIRE_KEY = "sk_test_imgwire"
IMAGEKIT_KEY = "private_test_imagekit"
POLL_S = 0.02

__all__ = ["IMAGEKIT_KEY", "IMGWIRE_KEY", "imagekit", "imgwire", "jpeg_bytes", "records"]


def imgwire(emulator: RunningEmulator, key: str = IMGWIRE_KEY, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=emulator.imgwire_url + "/api/v1/images",
        headers={"Authorization": f"Bearer {key}"},
        verify=False,
        timeout=30,
        **kwargs,
    )


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def imagekit(emulator: RunningEmulator, key: str = IMAGEKIT_KEY) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=emulator.imagekit_url,
        headers={"Authorization": basic(key)},
        verify=False,
        timeout=30,
    )


async def records(emulator: RunningEmulator, service: str) -> dict[str, Any]:
    """What the emulator says was uploaded (``/<service>/_emulator/records``)."""
    headers = {
        "imgwire": {"Authorization": f"Bearer {IMGWIRE_KEY}"},
        "imagekit": {"Authorization": basic(IMAGEKIT_KEY)},
    }[service]
    async with httpx.AsyncClient(verify=False, timeout=30) as client:
        response = await client.get(
            f"{emulator.origin}/{service}/_emulator/records", headers=headers
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


async def until(client: httpx.AsyncClient, path: str, done: set[str]) -> dict[str, Any]:
    """GET ``path`` until its ``status`` is one of ``done``; no timing is asserted."""
    for _ in range(2000):
        response = await client.get(path)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        if body["status"] in done:
            return body
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"{path} never reached {done}")


async def standard_upload(
    client: httpx.AsyncClient, data: bytes, name: str = "a.jpg", **fields: Any
) -> dict[str, Any]:
    """Create the record, PUT the bytes with the declared type; the creation's answer."""
    body = {"file_name": name, "mime_type": "image/jpeg", "content_length": len(data), **fields}
    created = await client.post("/standard_upload", json=body)
    created.raise_for_status()
    answer: dict[str, Any] = created.json()
    async with httpx.AsyncClient(verify=False, timeout=30) as plain:
        put = await plain.put(
            answer["upload_url"], content=data, headers={"Content-Type": body["mime_type"]}
        )
        put.raise_for_status()
    return answer
