"""The rest of both clients' APIs against the emulators: reads, paging, deletes, upload via
URL, download jobs; rejected keys named by source and never shown."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest

from bridge.delivery import (
    DeliveryAuthError,
    DeliveryError,
    DeliveryItem,
    DeliveryRefused,
    ImagekitClient,
    ImgwireClient,
    deliver_all,
)
from bridge.emulator.app import RunningEmulator
from tests.emulator_delivery.support import IMAGEKIT_KEY, IMGWIRE_KEY, jpeg_bytes, records


async def test_imgwire_reads_paging_deletes_and_downloads(
    delivery_emulator: RunningEmulator, exports: list[Path], tmp_path: Path
) -> None:
    items = [DeliveryItem(p, job_id="j", photo=i) for i, p in enumerate(exports[:5])]
    async with ImgwireClient(delivery_emulator.imgwire_url, IMGWIRE_KEY) as client:
        results = await deliver_all(client, items)
        ids = [r.remote_id for r in results if r.remote_id]
        first = await client.list_page(page=1, limit=2)
        assert (first.total, first.next_page, len(first.images)) == (5, 2, 2)
        assert {image.id async for image in client.list_all(limit=2)} == set(ids)
        image = await client.get(ids[0])
        assert image.custom_metadata == {"job": "j", "photo": 0}
        archive = await client.download(ids[:3], tmp_path / "downloads")
        with zipfile.ZipFile(archive) as opened:
            assert sorted(opened.namelist()) == sorted(p.name for p in exports[:3])
            assert opened.read(exports[1].name) == exports[1].read_bytes()
        copy = await client.upload_via_url(
            image.cdn_url, custom_metadata={"job": "copy"}, idempotency_key="copy-1"
        )
        assert copy.status == "READY" and copy.size_bytes == exports[0].stat().st_size
        assert all(isinstance(v, str) for v in (await client.delete(ids[0])).values())
        await client.bulk_delete(ids[1:])
        remaining = [image.id async for image in client.list_all()]
        assert remaining == [copy.id]
        with pytest.raises(DeliveryRefused):
            await client.bulk_delete([])


async def test_imagekit_reads_and_deletes(
    delivery_emulator: RunningEmulator, exports: list[Path]
) -> None:
    items = [DeliveryItem(p) for p in exports[:3]]
    async with ImagekitClient(IMAGEKIT_KEY, base_url=delivery_emulator.imagekit_url) as client:
        results = await deliver_all(client, items)
        ids = [r.remote_id for r in results if r.remote_id]
        details = await client.get(ids[0])
        assert details.file_path == results[0].remote_path
        assert {f.file_id for f in await client.list_files(path="/")} == set(ids)
        await client.delete(ids[0])
        assert await client.bulk_delete(ids[1:]) == ids[1:]
        assert await client.list_files() == []
    assert len((await records(delivery_emulator, "imagekit"))["uploads"]) == 3


async def test_rejected_keys_name_their_source_never_the_key(
    delivery_emulator: RunningEmulator, exports: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    item = [DeliveryItem(exports[0])]
    async with ImgwireClient(
        delivery_emulator.imgwire_url, "sk_live_secret", key_source="the test's key"
    ) as client:
        with pytest.raises(DeliveryAuthError) as imgwire:
            await deliver_all(client, item)
    async with ImagekitClient(
        "private_secret", base_url=delivery_emulator.imagekit_url, key_source="the test's key"
    ) as kit:
        with pytest.raises(DeliveryAuthError) as imagekit:
            await deliver_all(kit, item)
    for caught in (imgwire, imagekit):
        assert "the test's key" in str(caught.value) and "secret" not in str(caught.value)
    assert "secret" not in caplog.text
    assert "secret" not in repr(client) + repr(kit)


@pytest.mark.parametrize("key", ["", "  ", "sk with space", "sk\u201cquoted\u201d"])
def test_unusable_keys_are_refused_before_any_call(key: str) -> None:
    with pytest.raises(DeliveryAuthError):
        ImgwireClient("http://127.0.0.1:9/imgwire", key)


async def test_two_loose_copies_of_one_photo_are_two_images(
    delivery_emulator: RunningEmulator, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.jpg", tmp_path / "copy of a.jpg"
    for path in (first, second):
        path.write_bytes(jpeg_bytes(5))
    async with ImgwireClient(delivery_emulator.imgwire_url, IMGWIRE_KEY) as client:
        results = await deliver_all(client, [DeliveryItem(first), DeliveryItem(second)])
    assert len({r.remote_id for r in results}) == 2 and all(r.ok for r in results)


async def test_a_file_that_changes_while_it_goes_is_not_sent_truncated(
    delivery_emulator: RunningEmulator, tmp_path: Path
) -> None:
    photo = tmp_path / "growing.jpg"
    photo.write_bytes(jpeg_bytes(1))

    def grow(_: object) -> None:
        with photo.open("ab") as handle:
            handle.write(b"more")

    async with ImagekitClient(IMAGEKIT_KEY, base_url=delivery_emulator.imagekit_url) as client:
        with pytest.raises(DeliveryError, match="changed on disk"):
            await client.deliver(DeliveryItem(photo), on_progress=grow)
    assert (await records(delivery_emulator, "imagekit"))["uploads"] == []
