"""A download whose server sends fewer bytes than it promised is never published as complete:
it resumes with ``Range`` until every byte is there, or fails and leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.transfer import RetryPolicy, Transfer, TransferError
from tests.transfer.lying_storage import Lie, LyingStorage

DATA = os.urandom(200_000)
PATIENT = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.02)


async def fetch(storage: LyingStorage, folder: Path, **options: Any) -> Path:
    async with storage.running(), Transfer(retry=PATIENT, **options) as transfer:
        return await transfer.download(storage.url, folder, "IMG_1.dng")


@pytest.mark.parametrize(
    "lies",
    [
        [Lie.CUT],  # a 200 whose Content-Length is not kept
        [Lie.CUT, Lie.CUT],  # ...and a 206 whose Content-Length is not kept either
        [Lie.CUT, Lie.SHORT_206],  # a clean 206 shorter than its own Content-Range
        [Lie.CUT, Lie.SHORT_RANGE, Lie.SHORT_RANGE],  # clean 206s for part of the rest
        [Lie.CUT, Lie.UNKNOWN_TOTAL],  # a partial 206 that does not say the total
        [Lie.CUT, Lie.OTHER_OBJECT],  # a 206 of another object: start over, never splice
        [Lie.NO_LENGTH],  # a body ended by closing: its length cannot be checked
        [Lie.NO_LENGTH, Lie.NO_LENGTH],
        [Lie.CHUNKS_CUT],  # chunked, cut before the last chunk
    ],
    ids=lambda lies: "+".join(lie.value for lie in lies),
)
async def test_short_bodies_resume_until_every_byte_is_there(
    tmp_path: Path, lies: list[Lie]
) -> None:
    storage = LyingStorage(DATA, list(lies))
    path = await fetch(storage, tmp_path)
    assert path.read_bytes() == DATA
    assert [p.name for p in tmp_path.iterdir()] == ["IMG_1.dng"]
    assert len(storage.ranges) > len(lies) - 1  # every lie was heard, and answered again
    assert storage.ranges[0] is None


async def test_a_resume_asks_for_exactly_the_missing_bytes(tmp_path: Path) -> None:
    storage = LyingStorage(DATA, [Lie.CUT, Lie.SHORT_RANGE])
    await fetch(storage, tmp_path)
    half = len(DATA) // 2
    assert storage.ranges == [None, half, half + (len(DATA) - half) // 2]


@pytest.mark.parametrize("lie", [Lie.CUT, Lie.NO_LENGTH, Lie.CHUNKS_CUT, Lie.SHORT_206])
async def test_a_server_that_always_sends_too_little_fails_and_publishes_nothing(
    tmp_path: Path, lie: Lie
) -> None:
    storage = LyingStorage(DATA, [Lie.CUT] + [lie] * 10)
    with pytest.raises(TransferError) as caught:
        await fetch(storage, tmp_path)
    assert caught.value.retryable is True  # trying again later may help
    assert "6 attempts" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing published, no temp file left


async def test_a_server_that_stops_sending_is_given_up_on_and_resumed(tmp_path: Path) -> None:
    """A 200 that sent half its Content-Length and then went silent, socket open."""
    storage = LyingStorage(DATA, [Lie.STALL])
    path = await fetch(storage, tmp_path, timeout=httpx.Timeout(10.0, read=0.5))
    assert path.read_bytes() == DATA
    assert storage.ranges == [None, len(DATA) // 2]
