"""20 exported JPEGs delivered to each emulator with faults on: 10% 503, 5% dropped uploads,
5% lost answers, 5% 429. Every photo lands exactly once (the emulators' records say so),
is followed to its final status, and carries its metadata; delivering again (a restart)
sends nothing new."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest

from bridge.delivery import (
    DeliveryItem,
    ImagekitClient,
    ImagekitOptions,
    ImgwireClient,
    deliver_all,
)
from bridge.emulator.app import RunningEmulator
from tests.emulator_delivery.support import IMAGEKIT_KEY, IMGWIRE_KEY, jpeg_bytes, records

FAULTS: dict[str, Any] = {
    "rate_503": 0.10,
    "rate_429": 0.05,
    "drop_upload_rate": 0.05,
    "drop_response_rate": 0.05,
    "retry_after_s": 0,
    "seed": 7,
}


def items(paths: list[Path]) -> list[DeliveryItem]:
    return [
        DeliveryItem(p, job_id="job-2026", photo=i, profile="5700") for i, p in enumerate(paths)
    ]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="bridge.delivery")
    return caplog


async def test_imgwire_exactly_once_under_faults(
    delivery_factory: Any, exports: list[Path], quiet: pytest.LogCaptureFixture
) -> None:
    emulator: RunningEmulator = await delivery_factory(**FAULTS)
    async with ImgwireClient(emulator.imgwire_url, IMGWIRE_KEY) as client:
        results = await deliver_all(client, items(exports), concurrency=6)
    assert [r.status for r in results] == ["READY"] * 20, [r.error for r in results]
    held = await records(emulator, "imgwire")
    by_key = {image["idempotency_key"]: image for image in held["images"]}
    assert len(held["images"]) == 20 and len(by_key) == 20  # one image per photo
    assert len(held["uploads"]) == 20  # the bytes of each stored once
    for index, path in enumerate(exports):
        image = by_key[f"imagen-bridge:job-2026:{index}"]
        assert image["file_name"] == path.name
        assert image["sha256"] == sha(path) and image["status"] == "READY"
        assert image["custom_metadata"] == {"job": "job-2026", "photo": index, "profile": "5700"}
        assert results[index].remote_id == image["id"]
    assert "retrying" in quiet.text  # the faults were really met
    # A restarted bridge delivering the same photos again: the same images, nothing uploaded.
    async with ImgwireClient(emulator.imgwire_url, IMGWIRE_KEY) as client:
        again = await deliver_all(client, items(exports))
    assert [r.remote_id for r in again] == [r.remote_id for r in results]
    assert all(r.already_there for r in again)
    after = await records(emulator, "imgwire")
    assert len(after["images"]) == 20 and len(after["uploads"]) == 20


async def test_imagekit_exactly_once_under_faults(
    delivery_factory: Any, exports: list[Path], quiet: pytest.LogCaptureFixture
) -> None:
    emulator: RunningEmulator = await delivery_factory(**FAULTS)
    options = ImagekitOptions(folder="/Weddings/Müller 2026", tags=("wedding", "2026"))
    async with ImagekitClient(
        IMAGEKIT_KEY, base_url=emulator.imagekit_url, options=options
    ) as client:
        results = await deliver_all(client, items(exports), concurrency=6)
    assert all(r.ok for r in results), [r.error for r in results]
    held = await records(emulator, "imagekit")
    files = {f["filePath"]: f for f in held["files"]}
    assert len(files) == 20 and len(held["uploads"]) == 20  # no second file, no second version
    for index, (path, result) in enumerate(zip(exports, results, strict=True)):
        stored = files[result.remote_path]
        assert result.remote_path.startswith("/Weddings/Müller_2026/")
        assert stored["versions"] == 1 and stored["sha256"] == sha(path)
        assert stored["tags"] == ["wedding", "2026"]
        assert stored["customMetadata"] == {"job": "job-2026", "photo": index, "profile": "5700"}
    assert "retrying" in quiet.text
    async with ImagekitClient(
        IMAGEKIT_KEY, base_url=emulator.imagekit_url, options=options
    ) as client:
        again = await deliver_all(client, items(exports))
    assert [r.remote_id for r in again] == [r.remote_id for r in results]
    assert all(r.already_there for r in again)
    after = await records(emulator, "imagekit")
    assert len(after["uploads"]) == 20 and all(f["versions"] == 1 for f in after["files"])


async def test_lost_answers_are_found_not_repeated(
    delivery_factory: Any, exports: list[Path]
) -> None:
    """A third of the uploads' answers are lost after they took effect."""
    emulator: RunningEmulator = await delivery_factory(drop_response_rate=0.3, seed=11)
    chosen = items(exports[:8])
    async with ImgwireClient(emulator.imgwire_url, IMGWIRE_KEY) as client:
        imgwire = await deliver_all(client, chosen)
    async with ImagekitClient(IMAGEKIT_KEY, base_url=emulator.imagekit_url) as client:
        imagekit = await deliver_all(client, chosen)
    assert all(r.ok for r in imgwire + imagekit), [r.error for r in imgwire + imagekit]
    held = await records(emulator, "imgwire")
    assert len(held["images"]) == 8 and held["repeats"] > 0  # creations repeated, same images
    kit = await records(emulator, "imagekit")
    assert len(kit["files"]) == 8 and len(kit["uploads"]) == 8


async def test_overwrite_makes_one_new_version(
    delivery_emulator: RunningEmulator, exports: list[Path]
) -> None:
    item = items(exports[:1])
    async with ImagekitClient(IMAGEKIT_KEY, base_url=delivery_emulator.imagekit_url) as client:
        await deliver_all(client, item)
    exports[0].write_bytes(jpeg_bytes(99, (400, 300)))  # re-exported: other content and size
    async with ImagekitClient(IMAGEKIT_KEY, base_url=delivery_emulator.imagekit_url) as client:
        refused = await deliver_all(client, item)
    assert not refused[0].ok and "already has a different file" in (refused[0].error or "")
    options = ImagekitOptions(overwrite=True)
    async with ImagekitClient(
        IMAGEKIT_KEY, base_url=delivery_emulator.imagekit_url, options=options
    ) as client:
        replaced = await deliver_all(client, item)
    assert replaced[0].ok
    held = await records(delivery_emulator, "imagekit")
    assert [f["versions"] for f in held["files"]] == [2]
    assert held["files"][0]["sha256"] == sha(exports[0])


async def test_quarantine_is_reported_in_imgwires_words(
    delivery_factory: Any, exports: list[Path]
) -> None:
    emulator: RunningEmulator = await delivery_factory(fail_files=frozenset({exports[2].name}))
    async with ImgwireClient(emulator.imgwire_url, IMGWIRE_KEY) as client:
        results = await deliver_all(client, items(exports[:3]))
    assert [r.status for r in results] == ["READY", "READY", "QUARANTINE"]
    assert not results[2].ok and "QUARANTINE" in (results[2].error or "")
