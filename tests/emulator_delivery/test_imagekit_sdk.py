"""ImageKit's official SDK (``imagekitio`` from the package index, unchanged, ``base_url`` set)
against the emulator over loopback: upload, get, list and search, delete, bulk delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from imagekitio import ImageKit, NotFoundError, PermissionDeniedError

from bridge.emulator.app import RunningEmulator
from tests.emulator_delivery.support import IMAGEKIT_KEY, jpeg_bytes, records


def _client(base_url: str, key: str = IMAGEKIT_KEY) -> ImageKit:
    return ImageKit(private_key=key, base_url=base_url, max_retries=0)


def _flow(base_url: str, folder: Path) -> dict[str, Any]:
    client = _client(base_url)
    path = folder / "Hochzeit Müller 04.jpg"
    path.write_bytes(jpeg_bytes(4, (60, 40)))
    uploaded = client.files.upload(
        file=path,
        file_name=path.name,
        folder="/Weddings/Müller/day-1",
        tags=["wedding", "müller"],
        use_unique_file_name=False,
        custom_metadata={"job": "j1", "photo": 4},
        response_fields=["customMetadata", "tags"],
    )
    second = client.files.upload(file=jpeg_bytes(5), file_name="extra.jpg")
    details = client.files.get(uploaded.file_id)
    found = client.assets.list(
        search_query=f'name = "{uploaded.name}"', path="/Weddings/Müller/day-1"
    )
    everything = client.assets.list()
    client.files.delete(uploaded.file_id)
    try:
        client.files.get(uploaded.file_id)
        gone = False
    except NotFoundError:
        gone = True
    bulk = client.files.bulk.delete(file_ids=[second.file_id])
    return {
        "uploaded": uploaded,
        "second": second,
        "details": details,
        "found": found,
        "everything": everything,
        "gone": gone,
        "bulk": bulk,
        "after": client.assets.list(),
    }


async def test_official_sdk_flow(delivery_emulator: RunningEmulator, tmp_path: Path) -> None:
    result = await asyncio.to_thread(_flow, delivery_emulator.imagekit_url, tmp_path)
    uploaded = result["uploaded"]
    assert uploaded.name == "Hochzeit_Müller_04.jpg"  # spaces become _, umlauts stay
    assert uploaded.file_path == "/Weddings/Müller/day-1/Hochzeit_Müller_04.jpg"
    assert (uploaded.width, uploaded.height) == (60, 40)
    assert uploaded.tags == ["wedding", "müller"]
    assert uploaded.custom_metadata == {"job": "j1", "photo": 4}
    assert uploaded.version_info.name == "Version 1"
    second = result["second"]
    assert second.name.startswith("extra_") and second.name.endswith(".jpg")  # unique suffix
    details = result["details"]
    assert details.file_id == uploaded.file_id and details.mime == "image/jpeg"
    assert [f.file_id for f in result["found"]] == [uploaded.file_id]
    assert {f.file_id for f in result["everything"]} == {uploaded.file_id, second.file_id}
    assert result["gone"] is True
    assert result["bulk"].successfully_deleted_file_ids == [second.file_id]
    assert result["after"] == []
    held = await records(delivery_emulator, "imagekit")
    assert [u["filePath"] for u in held["uploads"]] == [
        uploaded.file_path,
        result["second"].file_path,
    ]


def _bad_key(base_url: str) -> None:
    _client(base_url, key="private_wrong").files.upload(file=b"x", file_name="a.jpg")


async def test_sdk_sees_a_wrong_key_as_permission_denied(
    delivery_emulator: RunningEmulator,
) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        await asyncio.to_thread(_bad_key, delivery_emulator.imagekit_url)
    assert caught.value.body["message"] == "Your account cannot be authenticated."
