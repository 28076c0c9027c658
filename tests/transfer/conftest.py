"""Fixtures for transfer-engine tests: a misbehaving storage double on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from bridge.transfer import RetryPolicy, Transfer, TransferProcess
from tests.transfer.storage_double import FakeStorage

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def storage(
    aiohttp_server: Callable[[web.Application], Awaitable[Any]],
) -> AsyncIterator[FakeStorage]:
    fake = FakeStorage()
    server = await aiohttp_server(fake.app())
    fake.origin = str(server.make_url("")).rstrip("/")
    assert fake.origin.startswith("http://127.0.0.1:")
    yield fake
    # Whatever the test did: no storage request may ever carry the Imagen API key.
    assert [s for s in fake.seen if "x-api-key" in s.headers] == []


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The duration of every ``asyncio.sleep`` awaited during the test (each still sleeps).

    Lets a test check the wait a retry asked for without measuring the clock.
    """
    real_sleep = asyncio.sleep
    seen: list[float] = []

    async def recording_sleep(delay: float, result: Any = None) -> Any:
        seen.append(delay)
        return await real_sleep(delay, result)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    return seen


Mover = type[Transfer] | type[TransferProcess]


@pytest.fixture(params=["in-process", "own-process"])
def mover(request: pytest.FixtureRequest) -> Mover:
    """Transfer, and TransferProcess (the same calls in a helper process): both must behave
    alike, so every test that takes this runs against each."""
    return Transfer if request.param == "in-process" else TransferProcess
