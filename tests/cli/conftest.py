"""CLI tests call the real command (typer's runner or a subprocess) against real emulators."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge.emulator.app import EmulatorConfig, RunningEmulator, running_emulator

ThreadedEmulator = Callable[..., RunningEmulator]


@pytest.fixture
def threaded_emulator() -> Iterator[ThreadedEmulator]:
    """``threaded_emulator(**EmulatorConfig fields)``: an emulator on its own loop and thread.

    A command under test runs its own ``asyncio.run``, so the emulator it talks to
    cannot live on the test's event loop.
    """
    stops: list[Callable[[], None]] = []

    def start(**fields: Any) -> RunningEmulator:
        ready = threading.Event()
        box: dict[str, Any] = {}

        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            box["stop"] = lambda: loop.call_soon_threadsafe(stop.set)
            async with running_emulator(EmulatorConfig(**fields)) as running:
                box["running"] = running
                ready.set()
                await stop.wait()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the emulator thread did not start")

        def stop_it() -> None:
            box["stop"]()
            thread.join(10)

        stops.append(stop_it)
        return box["running"]  # type: ignore[no-any-return]

    yield start
    for stop in stops:
        stop()
