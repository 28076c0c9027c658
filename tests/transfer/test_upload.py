"""Uploads against a storage double that drops, throttles and expires links on cue."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from bridge.transfer import ProgressEvent, Transfer, TransferError, md5_base64
from tests.transfer.conftest import FAST_RETRY, Mover
from tests.transfer.storage_double import Drop, Expire, FakeStorage, Late, Reply

MiB = 2**20


def photo(tmp_path: Path, name: str, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


async def test_put_streams_exact_length_with_empty_content_type(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    path, data = photo(tmp_path, "Hochzeit Müller 東京.NEF", 3 * MiB + 17)
    events: list[ProgressEvent] = []
    async with mover(retry=FAST_RETRY, on_progress=events.append) as transfer:
        await transfer.put_file(path, storage.link("k1"), name=path.name)

    assert storage.objects["k1"] == data
    [put] = storage.seen
    assert put.headers["Content-Length"] == str(len(data))
    assert put.headers.getall("Content-Type") == [""]  # present and empty, as links are signed
    assert "Transfer-Encoding" not in put.headers
    assert "Content-MD5" not in put.headers
    assert events[0].done == 0
    assert events[-1] == ProgressEvent("upload", path.name, len(data), len(data))
    assert len(events) <= len(data) // (256 * 1024) + 3


async def test_put_sends_content_md5_when_one_was_registered(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    path, data = photo(tmp_path, "a.jpg", 100_000)
    async with mover(retry=FAST_RETRY) as transfer:
        await transfer.put_file(path, storage.link("k"), name="a.jpg", content_md5=md5_base64(path))
        with pytest.raises(TransferError) as caught:
            await transfer.put_file(
                path, storage.link("k2"), name="a.jpg", content_md5="AAAAAAAAAAAAAAAAAAAAAA=="
            )
    assert storage.objects["k"] == data
    assert storage.seen[0].headers["Content-MD5"] == md5_base64(path)
    error = caught.value
    assert (error.status, error.code, error.retryable) == (400, "BadDigest", False)
    assert len(storage.seen) == 2  # a 400 is not retried


class Witness:
    """A Landing that notes, at each call, whether the storage already held the object."""

    def __init__(self, storage: FakeStorage, key: str, *, slow: float = 0.0) -> None:
        self.storage, self.key, self.slow = storage, key, slow
        self.calls: list[tuple[str, bool | None, bool]] = []
        self.received: list[int] = []  # body bytes the storage had when landing ended

    async def landing(self) -> None:
        await asyncio.sleep(self.slow)  # a slow durable write: the bytes must wait for it
        self.calls.append(("landing", None, self.key in self.storage.objects))
        self.received.append(self.storage.seen[-1].body_size if self.storage.seen else 0)

    async def landed(self, stored: bool | None) -> None:
        self.calls.append(("landed", stored, self.key in self.storage.objects))


async def test_landing_is_told_before_the_last_bytes_go_and_how_the_try_ended(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    path, data = photo(tmp_path, "a.CR3", 3 * MiB + 17)
    witness = Witness(storage, "k", slow=0.2)
    async with mover(retry=FAST_RETRY) as transfer:
        await transfer.put_file(path, storage.link("k"), name="a.CR3", landing=witness)
    assert witness.calls == [("landing", None, False), ("landed", True, True)]
    # the bytes before the last chunk went on; the last waited for the landing to be noted
    [received] = witness.received
    assert 0 < received <= len(data) - 17
    [put] = storage.seen
    assert put.body_size == len(data)
    assert storage.objects["k"] == data


async def test_landing_hears_of_every_try_refused_broken_off_or_stored(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    path, data = photo(tmp_path, "a.jpg", 100_000)
    # the connection breaks once the whole body is in, then the store fails after it: whether
    # either try was stored is not known
    storage.plan("k", Drop(after=len(data)), Late(500))
    witness = Witness(storage, "k")
    refused = Witness(storage, "k2")
    async with mover(retry=FAST_RETRY) as transfer:
        await transfer.put_file(path, storage.link("k"), name="a.jpg", landing=witness)
        with pytest.raises(TransferError):  # a wrong Content-MD5: refused after the body
            await transfer.put_file(
                path, storage.link("k2"), name="a.jpg", content_md5="AAAAAAAAAAAAAAAAAAAAAA==",
                landing=refused,
            )  # fmt: skip
    assert witness.calls == [
        ("landing", None, False),
        ("landed", None, False),
        ("landing", None, False),
        ("landed", None, False),
        ("landing", None, False),
        ("landed", True, True),
    ]
    assert refused.calls == [("landing", None, False), ("landed", False, False)]


async def test_an_empty_file_is_landing_before_its_request_goes(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    path, _ = photo(tmp_path, "empty.jpg", 0)
    seen_then: list[int] = []

    class Early(Witness):
        async def landing(self) -> None:
            seen_then.append(len(storage.seen))
            await super().landing()

    witness = Early(storage, "k")
    async with mover(retry=FAST_RETRY) as transfer:
        await transfer.put_file(path, storage.link("k"), name="empty.jpg", landing=witness)
    assert seen_then == [0]
    assert witness.calls == [("landing", None, False), ("landed", True, True)]
    assert storage.objects["k"] == b""


async def test_a_dropped_upload_is_sent_again_and_logged_without_the_signature(
    storage: FakeStorage,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    mover: Mover,
) -> None:
    path, data = photo(tmp_path, "IMG_7.CR3", 2 * MiB)
    storage.plan("k", Drop(after=300_000))
    with caplog.at_level(logging.INFO):
        async with mover(retry=FAST_RETRY) as transfer:
            await transfer.put_file(path, storage.link("k"), name=path.name)
    assert storage.objects["k"] == data
    assert len(storage.seen) == 2
    ours = "\n".join(  # the double's own access log is not the engine's output
        r.getMessage() for r in caplog.records if r.name != "aiohttp.access"
    )
    assert "IMG_7.CR3 failed (attempt 1 of 4" in ours
    assert "X-Amz-Signature" not in ours
    assert not any(token in ours for token in storage.tokens)


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_is_retried_after_the_servers_retry_after(
    storage: FakeStorage,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    sleeps: list[float],
    status: int,
) -> None:
    path, data = photo(tmp_path, "a.jpg", 1000)
    storage.plan("k", Reply(status, retry_after="1"))
    with caplog.at_level(logging.WARNING):
        async with Transfer(retry=FAST_RETRY) as transfer:
            await transfer.put_file(path, storage.link("k"), name="a.jpg")
    assert storage.objects["k"] == data
    assert 1.0 in sleeps  # waited as told, though the policy says 0.01 s
    assert f"HTTP {status} SlowDown" in caplog.text
    assert "retrying in 1.0 s" in caplog.text


async def test_retries_give_up_with_a_retryable_error(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    path, _ = photo(tmp_path, "a.jpg", 1000)
    storage.plan("k", *[Reply(500)] * 4)
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.put_file(path, storage.link("k"), name="a.jpg")
    error = caught.value
    assert (error.status, error.retryable, error.name) == (500, True, "a.jpg")
    assert "after 4 attempts" in str(error)
    assert "X-Amz-Signature" not in str(error)
    assert len(storage.seen) == 4


async def test_an_expired_link_is_refreshed_and_the_upload_succeeds(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    path, data = photo(tmp_path, "a.jpg", 500_000)
    storage.plan("k", Expire())
    fresh: list[str] = []

    async def refresh() -> str:
        fresh.append(storage.link("k"))
        return fresh[-1]

    async with mover(retry=FAST_RETRY) as transfer:
        await transfer.put_file(path, storage.link("k"), name="a.jpg", refresh=refresh)
    assert storage.objects["k"] == data
    assert len(fresh) == 1


async def test_fresh_links_do_not_use_up_the_retries(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    """Expired links and refusals mixed: every refresh is free, every refusal counts, so an
    upload that meets attempts - 1 refusals and as many expiries still succeeds."""
    path, data = photo(tmp_path, "a.jpg", 10_000)
    refusals = FAST_RETRY.attempts - 1
    storage.plan("k", *[step for _ in range(refusals) for step in (Expire(), Reply(503))])

    async def refresh() -> str:
        return storage.link("k")

    async with mover(retry=FAST_RETRY) as transfer:
        await transfer.put_file(path, storage.link("k"), name="a.jpg", refresh=refresh)
    assert storage.objects["k"] == data


async def test_an_expired_link_without_a_refresher_says_so(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    path, _ = photo(tmp_path, "a.jpg", 1000)
    storage.plan("k", Expire())
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.put_file(path, storage.link("k"), name="a.jpg")
    error = caught.value
    assert (error.status, error.code, error.link_expired, error.retryable) == (
        403,
        "AccessDenied",
        True,
        True,
    )
    assert "Request has expired" in str(error)
    assert len(storage.seen) == 1


async def test_other_refusals_are_not_retried(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    path, _ = photo(tmp_path, "a.jpg", 1000)
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.put_file(path, storage.origin + "/o/k?X-Amz-Signature=forged", name="a")
    assert (caught.value.code, caught.value.retryable, caught.value.link_expired) == (
        "SignatureDoesNotMatch",
        False,
        False,
    )
    assert len(storage.seen) == 1


@pytest.mark.parametrize("link", ["not a url", "ftp://127.0.0.1/x", "http://[::1"])
async def test_unusable_links_fail_at_once(tmp_path: Path, link: str, mover: Mover) -> None:
    path, _ = photo(tmp_path, "a.jpg", 10)
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.put_file(path, link, name="a.jpg")
    assert caught.value.retryable is False
    assert "after 1 attempt:" in str(caught.value)


async def test_a_missing_file_fails_before_any_request(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError, match=r"Cannot read gone\.nef"):
            await transfer.put_file(tmp_path / "gone.nef", storage.link("k"), name="gone.nef")
    assert storage.seen == []


async def test_an_unreadable_file_is_a_transfer_error(
    storage: FakeStorage, tmp_path: Path, mover: Mover
) -> None:
    folder = tmp_path / "IMG_1.NEF"  # a folder where a photo should be
    folder.mkdir()
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.put_file(folder, storage.link("k"), name="IMG_1.NEF")
    assert (caught.value.code, caught.value.retryable) == ("LocalReadFailed", False)
    assert storage.seen == []


async def test_a_file_that_shrinks_between_tries_is_not_sent_short(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    path, _ = photo(tmp_path, "a.jpg", 400_000)
    storage.plan("k", Reply(503))
    async with mover(retry=FAST_RETRY) as transfer:
        task = asyncio.create_task(transfer.put_file(path, storage.link("k"), name="a.jpg"))
        while not storage.seen:
            await asyncio.sleep(0.001)
        path.write_bytes(b"short")
        with pytest.raises(TransferError, match=r"changed on disk|got shorter") as caught:
            await task
    assert caught.value.retryable is False
    assert "k" not in storage.objects


async def test_multipart_parts_run_in_parallel_and_a_dropped_part_is_resent(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    part_size = 5 * MiB
    path, data = photo(tmp_path, "pano.jpg", 2 * part_size + 12345)
    storage.plan("big", Drop(after=2 * MiB), part=2)
    storage.delay = 0.05
    landed: list[int] = []
    events: list[ProgressEvent] = []
    urls = {n: storage.link("big", part=n) for n in (1, 2, 3)}
    async with mover(retry=FAST_RETRY, on_progress=events.append) as transfer:
        await transfer.put_multipart(
            path, urls, part_size, name="pano.jpg", on_part_done=landed.append
        )
    assert storage.assembled("big") == data
    assert sorted(landed) == [1, 2, 3]
    assert [s.part for s in storage.seen].count(2) == 2
    assert storage.max_in_flight > 1
    assert events[-1] == ProgressEvent("upload", "pano.jpg", len(data), len(data))
    lengths = {s.part: s.headers["Content-Length"] for s in storage.seen}
    assert lengths == {1: str(part_size), 2: str(part_size), 3: "12345"}


async def test_an_expired_part_link_ends_the_upload_saying_so(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    part_size = 5 * MiB
    path, _ = photo(tmp_path, "pano.jpg", 2 * part_size)
    storage.plan("big", Expire(), part=2)
    urls = {n: storage.link("big", part=n) for n in (1, 2)}
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError) as caught:
            await transfer.put_multipart(path, urls, part_size, name="pano.jpg")
    error = caught.value
    assert (error.status, error.code, error.link_expired) == (403, "AccessDenied", True)
    assert "part 2/2" in str(error)
    assert [s.part for s in storage.seen].count(2) == 1  # an expired link is not tried again


async def test_a_resumed_multipart_upload_skips_parts_already_done(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    part_size = 5 * MiB
    path, data = photo(tmp_path, "pano.jpg", 3 * part_size)
    storage.parts["big"][1] = data[:part_size]
    urls = {n: storage.link("big", part=n) for n in (2, 3)}
    events: list[ProgressEvent] = []
    async with mover(retry=FAST_RETRY, on_progress=events.append) as transfer:
        await transfer.put_multipart(path, urls, part_size, name="pano.jpg", done_parts={1})
    assert storage.assembled("big") == data
    assert sorted(s.part for s in storage.seen if s.part) == [2, 3]
    assert events[0].done == part_size  # progress starts from what was already there


async def test_an_unusable_part_list_is_refused_before_sending(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    path, _ = photo(tmp_path, "pano.jpg", 11 * MiB)  # 3 parts of 5 MiB
    async with mover(retry=FAST_RETRY) as transfer:
        with pytest.raises(TransferError, match=r"no link for part\(s\) 3") as caught:
            await transfer.put_multipart(path, {1: "u", 2: "u"}, 5 * MiB, name="pano.jpg")
        assert caught.value.code == "InvalidPartList"
        with pytest.raises(TransferError, match=r"part\(s\) 9 beyond the 3 parts"):
            await transfer.put_multipart(
                path, {1: "u", 2: "u", 3: "u", 9: "u"}, 5 * MiB, name="pano.jpg"
            )
        with pytest.raises(ValueError, match="at least"):
            await transfer.put_multipart(path, {}, MiB, name="pano.jpg")
    assert storage.seen == []


async def test_one_semaphore_bounds_sockets_across_files_and_parts(
    storage: FakeStorage,
    tmp_path: Path,
    mover: Mover,
) -> None:
    part_size = 5 * MiB
    storage.delay = 0.05
    files = [photo(tmp_path, f"p{i}.jpg", 2 * part_size) for i in range(3)]
    async with mover(retry=FAST_RETRY, concurrency=2) as transfer:
        await asyncio.gather(
            *(
                transfer.put_multipart(
                    path,
                    {n: storage.link(path.name, part=n) for n in (1, 2)},
                    part_size,
                    name=path.name,
                )
                for path, _ in files
            ),
            transfer.put_file(files[0][0], storage.link("single"), name="single"),
        )
    assert storage.max_in_flight == 2
    for path, data in files:
        assert storage.assembled(path.name) == data
