"""Imgwire's official SDK (``imgwire`` 0.3.2, unchanged) against the emulator over loopback.

The SDK is synchronous (urllib3 for the API, httpx for the PUT), so it runs in a worker
thread while the emulator serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from imgwire import ImgwireClient

from bridge.emulator.app import RunningEmulator
from tests.emulator_delivery.support import IMGWIRE_KEY, jpeg_bytes, records

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _wait(client: ImgwireClient, image_id: str) -> Any:
    for _ in range(2000):
        image = client.images.retrieve(image_id)
        if image.status in ("READY", "QUARANTINE"):
            return image
        time.sleep(0.02)
    raise AssertionError(f"{image_id} never finished")


def _sdk_flow(base_url: str, folder: Path) -> dict[str, Any]:
    client = ImgwireClient(IMGWIRE_KEY, base_url=base_url)
    images = []
    for index in range(3):
        path = folder / f"Strand 🌅 {index}.jpg"
        path.write_bytes(jpeg_bytes(index, (48, 32)))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        image = client.images.upload(
            str(path),
            custom_metadata={"job": "sdk", "photo": index},
            hash_sha256=digest,
            idempotency_key=f"sdk-{index}",
            purpose="delivery",
        )
        assert image.status == "PENDING"
        images.append(_wait(client, image.id))
    again = client.images.upload(
        str(folder / "Strand 🌅 0.jpg"), idempotency_key="sdk-0", hash_sha256=images[0].hash_sha256
    )
    listed = list(client.images.list_all(limit=2))
    first_page = client.images.list(page=1, limit=2)
    job = client.images.create_bulk_download_job({"image_ids": [i.id for i in images]})
    while job.status not in ("READY", "FAILED"):
        time.sleep(0.02)
        job = client.images.retrieve_bulk_download_job(job.id)
    deleted = client.images.delete(images[0].id)
    bulk = client.images.bulk_delete({"image_ids": [images[1].id, images[2].id]})
    remaining = list(client.images.list_all())
    return {
        "images": images,
        "again": again,
        "listed": listed,
        "page": first_page,
        "job": job,
        "deleted": deleted,
        "bulk": bulk,
        "remaining": remaining,
    }


async def test_official_sdk_full_flow(delivery_emulator: RunningEmulator, tmp_path: Path) -> None:
    result = await asyncio.to_thread(_sdk_flow, delivery_emulator.imgwire_url, tmp_path)
    images = result["images"]
    assert [i.status for i in images] == ["READY"] * 3
    assert [(i.width, i.height) for i in images] == [(48, 32)] * 3
    assert images[0].original_filename == "Strand 🌅 0.jpg"
    assert images[1].custom_metadata["photo"].actual_instance == 1
    assert result["again"].id == images[0].id  # same idempotency key: no second image
    assert {i.id for i in result["listed"]} == {i.id for i in images}
    assert result["page"].pagination.total_count == 3 and result["page"].pagination.next_page == 2
    job = result["job"]
    assert job.status == "READY" and job.download_url
    assert all(isinstance(v, str) for v in result["deleted"].values())
    assert all(isinstance(v, str) for v in result["bulk"].values())
    assert result["remaining"] == []
    async with httpx.AsyncClient() as plain:
        archive = (await plain.get(job.download_url)).content
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert sorted(opened.namelist()) == [f"Strand 🌅 {i}.jpg" for i in range(3)]
        assert opened.read("Strand 🌅 2.jpg") == (tmp_path / "Strand 🌅 2.jpg").read_bytes()
    held = await records(delivery_emulator, "imgwire")
    # The repeated upload (same key, same bytes) made no second image and stored nothing new.
    assert len(held["images"]) == 3 and len(held["uploads"]) == 3 and held["repeats"] == 1


def _rate_limited(base_url: str) -> Any:
    client = ImgwireClient(IMGWIRE_KEY, base_url=base_url)
    return client.images.list()


async def test_sdk_retries_a_429_with_retry_after(delivery_factory: Any) -> None:
    """The SDK retries GETs only on 429/503 with Retry-After; the emulator sends it."""
    emulator = await delivery_factory(rate_429=0.5, retry_after_s=0, seed=3)
    page = await asyncio.to_thread(_rate_limited, emulator.imgwire_url)
    assert page.data == []
