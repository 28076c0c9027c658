"""What only TransferProcess has: a helper process that can die, callbacks answered across
the process boundary, and names that must survive the trip. Everything Transfer does is
checked against both in test_upload and test_download (the ``mover`` fixture)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bridge.transfer import ProgressEvent, TransferError, TransferProcess
from bridge.transfer.process import PROGRESS_EVERY_S
from tests.transfer.conftest import FAST_RETRY
from tests.transfer.storage_double import Expire, FakeStorage, Reply

MiB = 2**20


async def test_a_killed_helper_fails_its_calls_retryably_and_the_next_call_gets_a_new_one(
    storage: FakeStorage, tmp_path: Path
) -> None:
    storage.objects["o"] = os.urandom(MiB)
    storage.plan("o", Reply(503, retry_after="30"))  # keeps the first call open in the child
    async with TransferProcess(retry=FAST_RETRY) as transfer:
        first = transfer.pid
        assert first is not None and first != os.getpid()
        call = asyncio.create_task(transfer.download(storage.link("o"), tmp_path, "a.jpg"))
        while not storage.seen:
            await asyncio.sleep(0.01)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(TransferError) as caught:
            await call
        assert caught.value.retryable
        assert "transfer process ended" in str(caught.value)
        assert caught.value.name == "a.jpg"

        path = await transfer.download(storage.link("o"), tmp_path, "a.jpg")
        assert path.read_bytes() == storage.objects["o"]
        assert transfer.pid not in (None, first)
    assert transfer.pid is None  # closed: the helper is gone


class Refused(Exception):
    pass


class RefusingLanding:
    async def landing(self) -> None:
        raise Refused("Imagen said no")

    async def landed(self, stored: bool | None) -> None:
        raise AssertionError("never landing, never landed")


@pytest.mark.parametrize("callback", ["refresh", "landing"])
async def test_a_failing_callback_reaches_the_caller_unchanged(
    storage: FakeStorage, tmp_path: Path, callback: str
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x" * 1000)

    async def fails() -> str:
        raise Refused("Imagen said no")

    async with TransferProcess(retry=FAST_RETRY) as transfer:
        with pytest.raises(Refused, match="Imagen said no"):
            if callback == "refresh":
                storage.plan("k", Expire())
                await transfer.put_file(path, storage.link("k"), name="a.jpg", refresh=fails)
            else:
                await transfer.put_file(
                    path, storage.link("k"), name="a.jpg", landing=RefusingLanding()
                )
        assert "k" not in storage.objects
        # the helper is fine: the next call goes through
        await transfer.put_file(path, storage.link("k2"), name="a.jpg")
    assert storage.objects["k2"] == path.read_bytes()


async def test_a_helper_killed_while_its_file_may_be_landing_still_ends_the_landing(
    storage: FakeStorage, tmp_path: Path
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(os.urandom(100_000))
    storage.delay = 30.0  # the storage holds the answer once the body is in
    told: list[str | bool | None] = []

    class Watch:
        async def landing(self) -> None:
            told.append("landing")

        async def landed(self, stored: bool | None) -> None:
            told.append(stored)

    async with TransferProcess(retry=FAST_RETRY) as transfer:
        call = asyncio.create_task(
            transfer.put_file(path, storage.link("k"), name="a.jpg", landing=Watch())
        )
        async with asyncio.timeout(10):
            while told != ["landing"]:  # the last chunk may be on its way
                await asyncio.sleep(0.01)
        assert transfer.pid is not None
        os.kill(transfer.pid, signal.SIGKILL)
        with pytest.raises(TransferError) as caught:
            await call
        assert caught.value.retryable
    assert told == ["landing", None]  # its fate is open: the caller's lock is not kept


async def test_progress_crosses_at_most_ten_times_a_second_first_and_last_included(
    storage: FakeStorage, tmp_path: Path
) -> None:
    path = tmp_path / "big.CR3"
    path.write_bytes(os.urandom(64 * MiB))
    storage.delay = 0.3  # the answer takes a while: the last event still comes
    events: list[ProgressEvent] = []
    async with TransferProcess(retry=FAST_RETRY, on_progress=events.append) as transfer:
        started = time.monotonic()
        await transfer.put_file(path, storage.link("k"), name="big.CR3")
        elapsed = time.monotonic() - started
    assert events[0].done == 0
    assert events[-1] == ProgressEvent("upload", "big.CR3", 64 * MiB, 64 * MiB)
    middle = [e for e in events if 0 < e.done < e.total]
    assert len(middle) <= elapsed / PROGRESS_EVERY_S + 1
    assert len(middle) < 64 * MiB // (256 * 1024)  # what crossing every step would send


@pytest.mark.skipif(sys.platform != "linux", reason="Linux file names may be any bytes")
async def test_names_that_are_not_utf8_survive_the_trip(
    storage: FakeStorage, tmp_path: Path
) -> None:
    folder = tmp_path / os.fsdecode(b"Hochzeit \xff M\xfcller")  # Latin-1 bytes, not UTF-8
    folder.mkdir()
    source = folder / "IMG_1 東京 🎉.CR3"
    source.write_bytes(os.urandom(300_000))
    async with TransferProcess(retry=FAST_RETRY) as transfer:
        await transfer.put_file(source, storage.link("k"), name=source.name)
        storage.objects["o"] = source.read_bytes()
        path = await transfer.download(storage.link("o"), folder, "IMG_1 東京 🎉.xmp")
    assert storage.objects["k"] == source.read_bytes()
    assert path == folder / "IMG_1 東京 🎉.xmp"
    assert path.read_bytes() == source.read_bytes()


async def test_a_canceled_upload_stops_in_the_helper(storage: FakeStorage, tmp_path: Path) -> None:
    path = tmp_path / "big.CR3"
    path.write_bytes(os.urandom(8 * MiB))
    storage.delay = 30.0  # the storage holds the request once the body is in
    async with TransferProcess(retry=FAST_RETRY) as transfer:
        call = asyncio.create_task(transfer.put_file(path, storage.link("k"), name="big.CR3"))
        while storage.in_flight == 0:
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # the child dropped the connection: the storage's handler was cancelled with it
        for _ in range(200):
            if storage.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert storage.in_flight == 0
    assert "k" not in storage.objects
