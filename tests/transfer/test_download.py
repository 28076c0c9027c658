"""Downloads: resume after drops, atomic publish, hostile names, never clobbering a file."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
from pathlib import Path

import pytest

from bridge.transfer import ProgressEvent, Transfer, TransferError
from tests.transfer.conftest import FAST_RETRY, Mover
from tests.transfer.storage_double import Drop, Expire, FakeStorage, IgnoreRange, Reply

MiB = 2**20


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_a_dropped_download_resumes_with_range_and_is_byte_identical(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    data = os.urandom(3 * MiB + 5)
    storage.objects["out"] = data
    storage.plan("out", Drop(after=MiB + 3))
    events: list[ProgressEvent] = []
    async with mover(retry=FAST_RETRY, on_progress=events.append) as transfer:
        path = await transfer.download(storage.link("out"), tmp_path, "IMG_1.xmp")

    assert path == tmp_path.resolve() / "IMG_1.xmp"
    assert path.read_bytes() == data
    first, second = storage.seen
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={MiB + 3}-"
    assert entries(tmp_path) == ["IMG_1.xmp"]  # no temp file left behind
    assert events[-1] == ProgressEvent("download", "IMG_1.xmp", len(data), len(data))
    done = [e.done for e in events]
    assert done == sorted(done)  # resumed, never restarted from 0


async def test_a_server_that_ignores_range_gets_a_clean_restart(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    data = os.urandom(MiB)
    storage.objects["out"] = data
    storage.plan("out", Drop(after=400_000), IgnoreRange())
    async with mover(retry=FAST_RETRY) as transfer:
        path = await transfer.download(storage.link("out"), tmp_path, "a.jpg")
    assert path.read_bytes() == data
    assert storage.seen[1].headers["Range"] == "bytes=400000-"


@pytest.mark.parametrize("status", [429, 503])
async def test_throttled_downloads_wait_and_retry(
    storage: FakeStorage,
    tmp_path: Path,
    status: int,
    caplog: pytest.LogCaptureFixture,
    sleeps: list[float],
) -> None:
    storage.objects["out"] = b"<x:xmpmeta/>"
    storage.plan("out", Reply(status, retry_after="1"))
    with caplog.at_level(logging.WARNING, logger="bridge"):
        async with Transfer(retry=FAST_RETRY) as transfer:
            path = await transfer.download(storage.link("out"), tmp_path, "a.xmp")
    assert path.read_bytes() == b"<x:xmpmeta/>"
    assert "retrying in 1.0 s" in caplog.text
    assert 1.0 in sleeps


async def test_an_expired_download_link_is_refreshed(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    storage.objects["out"] = b"data"
    storage.plan("out", Expire())

    async def refresh() -> str:
        return storage.link("out")

    async with mover(retry=FAST_RETRY) as transfer:
        path = await transfer.download(storage.link("out"), tmp_path, "a.xmp", refresh=refresh)
    assert path.read_bytes() == b"data"


@pytest.mark.parametrize(
    ("server_name", "saved_as"),
    [
        ("../../x.xmp", "x.xmp"),
        ("/etc/x", "x"),
        ("C:\\x\\y.xmp", "y.xmp"),
        ("..\\..\\..\\z.xmp", "z.xmp"),
        ("Müller 東京 🎉.xmp", "Müller 東京 🎉.xmp"),
    ],
)
async def test_hostile_names_land_inside_the_folder_as_base_names(
    storage: FakeStorage,
    tmp_path: Path,
    server_name: str,
    saved_as: str,
    mover: Mover,
) -> None:
    out = tmp_path / "job" / "outputs"
    storage.objects["o"] = b"edited"
    async with mover(retry=FAST_RETRY) as transfer:
        path = await transfer.download(storage.link("o"), out, server_name)
    assert path == out.resolve() / saved_as
    assert entries(out) == [saved_as]
    assert entries(tmp_path) == ["job"]
    assert entries(tmp_path / "job") == ["outputs"]


@pytest.mark.parametrize(
    "server_name", ["..", "", ".", "a\x00b.xmp", "a\nb.xmp", "dir/", "x.xmp:ads"]
)
async def test_names_that_cannot_be_made_safe_are_refused_without_a_request(
    storage: FakeStorage,
    tmp_path: Path,
    server_name: str,
    mover: Mover,
) -> None:
    storage.objects["o"] = b"edited"
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.download(storage.link("o"), tmp_path / "out", server_name)
    assert caught.value.code == "UnsafeFileName"
    assert caught.value.retryable is False
    assert storage.seen == []
    assert entries(tmp_path) == []


async def test_a_different_existing_file_is_kept_and_reported(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    existing = tmp_path / "IMG_1.xmp"
    existing.write_bytes(b"the photographer's own file")
    storage.objects["o"] = b"from the server"
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError, match="already exists") as caught:
            await transfer.download(storage.link("o"), tmp_path, "IMG_1.xmp")
        assert caught.value.code == "FileExists"
        assert existing.read_bytes() == b"the photographer's own file"
        assert entries(tmp_path) == ["IMG_1.xmp"]

        storage.objects["same"] = b"the photographer's own file"
        await transfer.download(storage.link("same"), tmp_path, "IMG_1.xmp")  # identical: fine

        replaced = await transfer.download(storage.link("o"), tmp_path, "IMG_1.xmp", overwrite=True)
    assert replaced.read_bytes() == b"from the server"
    assert entries(tmp_path) == ["IMG_1.xmp"]


async def test_a_symlink_at_the_target_is_not_followed(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.xmp").symlink_to(outside)
    storage.objects["o"] = b"edited"
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError, match="already exists"):
            await transfer.download(storage.link("o"), out, "a.xmp")
        await transfer.download(storage.link("o"), out, "a.xmp", overwrite=True)
    assert outside.read_bytes() == b"precious"
    assert (out / "a.xmp").read_bytes() == b"edited"
    assert not (out / "a.xmp").is_symlink()


async def test_a_failed_download_leaves_nothing_behind(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    storage.objects["o"] = os.urandom(MiB)
    storage.plan("o", *[Drop(after=1000)] * 4)
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.download(storage.link("o"), tmp_path, "a.jpg")
    assert caught.value.retryable is True
    assert entries(tmp_path) == []


async def test_missing_objects_fail_without_retries(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.download(storage.link("nothing"), tmp_path, "a.jpg")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        404,
        "NoSuchKey",
        False,
    )
    assert len(storage.seen) == 1


async def test_cancelling_a_download_removes_its_temp_file(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    storage.objects["o"] = os.urandom(MiB)
    storage.plan("o", Reply(503, retry_after="30"))
    async with mover(retry=FAST_RETRY) as transfer:
        task = asyncio.create_task(transfer.download(storage.link("o"), tmp_path, "a.jpg"))
        while not storage.seen:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)
        assert len(entries(tmp_path)) == 1  # the temp file, waiting for Retry-After
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert entries(tmp_path) == []


async def test_local_disk_trouble_is_a_transfer_error(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    storage.objects["o"] = b"edited"
    blocker = tmp_path / "out"
    blocker.write_bytes(b"a file where the folder should be")
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.download(storage.link("o"), blocker, "a.xmp")
    assert (caught.value.code, caught.value.retryable) == ("LocalWriteFailed", False)
    assert blocker.read_bytes() == b"a file where the folder should be"


async def test_a_body_encoded_against_our_wishes_is_decoded_and_restarted_on_drops(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    data = b"<x:xmpmeta>" + os.urandom(300_000).hex().encode() + b"</x:xmpmeta>"
    storage.objects["o"] = gzip.compress(data)
    storage.encodings["o"] = "gzip"
    storage.plan("o", Drop(after=100_000))
    async with mover(retry=FAST_RETRY) as transfer:
        path = await transfer.download(storage.link("o"), tmp_path, "IMG_1.xmp")
    assert path.read_bytes() == data
    assert storage.seen[0].headers["Accept-Encoding"] == "identity"
    assert "Range" not in storage.seen[1].headers  # encoded offsets cannot be resumed


async def test_a_body_that_cannot_be_decoded_is_a_transfer_error(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    storage.objects["o"] = b"not gzip at all"
    storage.encodings["o"] = "gzip"
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError, match="DecodingError") as caught:
            await transfer.download(storage.link("o"), tmp_path, "a.xmp")
    assert caught.value.retryable is False
    assert len(storage.seen) == 1
    assert entries(tmp_path) == []
