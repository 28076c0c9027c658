from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from bridge.jobs.engine import JobEngine
from bridge.server.token import load_or_create_token
from bridge.settings import load_settings
from tests.server.support import Live, live_app


class UnreachedEngine:
    """For tests whose requests must be refused before any handler runs."""

    backend = "emulator"
    api_key_configured = False

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine's {name} was reached")


@pytest.fixture
async def guarded() -> AsyncIterator[Live]:
    """A live app whose engine must never be called."""
    async with live_app(UnreachedEngine(), load_settings(), load_or_create_token()) as live:  # type: ignore[arg-type]
        yield live


@pytest.fixture(autouse=True)
def _quick_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Edits in the embedded emulator take a fraction of a second, not two."""
    monkeypatch.setenv("IMAGEN_EMULATOR_FAULT_PROCESSING_S", "0.2")


BridgeFactory = Callable[..., AbstractAsyncContextManager[Live]]


@pytest.fixture
def bridge_factory() -> BridgeFactory:
    """``async with bridge_factory(**create_app options) as live``: the real engine (on the
    embedded emulator, in the test's data dir) behind a live app."""

    @asynccontextmanager
    async def start(**options: Any) -> AsyncIterator[Live]:
        settings = load_settings()
        async with (
            JobEngine.open(settings) as engine,
            live_app(engine, settings, load_or_create_token(), **options) as live,
        ):
            yield live

    return start


@pytest.fixture
async def bridge(bridge_factory: BridgeFactory) -> AsyncIterator[Live]:
    async with bridge_factory() as live:
        yield live
