"""Every test runs with its own config and data dirs and no API key from the developer's shell."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from bridge.emulator.app import EmulatorConfig, RunningEmulator, running_emulator

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("IMAGEN_BRIDGE_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("IMAGEN_BRIDGE_DATA_DIR", str(home / "data"))
    for name in ("IMAGEN_API_KEY", "IMAGEN_BRIDGE_API_KEY", "IMAGEN_BRIDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the checkout: reference data and sample sidecars."""
    if not SHARED.is_dir():
        pytest.fail(f"shared/ not found at {SHARED}; the checkout must sit beside it")
    return SHARED


EmulatorFactory = Callable[..., Awaitable[RunningEmulator]]


@pytest.fixture
async def emulator_factory() -> AsyncIterator[EmulatorFactory]:
    """``await emulator_factory(**EmulatorConfig fields)`` -> a running emulator on 127.0.0.1.

    Every emulator started this way is stopped (and its temp storage removed) after the test.
    """
    async with AsyncExitStack() as stack:

        async def start(**fields: Any) -> RunningEmulator:
            return await stack.enter_async_context(running_emulator(EmulatorConfig(**fields)))

        yield start


@pytest.fixture
async def emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    """The emulator with its default config (bare envelope, any non-empty API key)."""
    return await emulator_factory()
