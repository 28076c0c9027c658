"""Which Imagen the bridge talks to: the real service with the configured key, or the emulator.

Without a key the built-in emulator runs in this process on a random loopback
port, and ``notice`` says so every time, so nobody mistakes emulated edits for
real ones. Emulator faults come from ``IMAGEN_EMULATOR_FAULT_*`` variables
unless a config is given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bridge.emulator.app import EmulatorConfig, RunningEmulator, running_emulator
from bridge.emulator.faults import FaultConfig
from bridge.imagen import ImagenClient
from bridge.settings import EMULATOR_NOTICE, Settings

EMULATOR_KEY = "emulator"  # the embedded emulator accepts any non-empty key
DEMO_NOTICE = (
    "Demo: using the built-in offline emulator (always, even with an API key configured). "
    "The sample files are synthetic stand-ins, not real RAW photos."
)


@dataclass(frozen=True)
class Backend:
    """An open Imagen client and what it stands for (``emulator`` or ``imagen``)."""

    client: ImagenClient
    name: str
    emulator: RunningEmulator | None = None
    """The embedded emulator, which also stands in for the delivery services."""


@asynccontextmanager
async def open_backend(
    settings: Settings,
    *,
    notice: Callable[[str], None] | None = None,
    logger: logging.Logger | None = None,
    emulator: EmulatorConfig | None = None,
    demo: bool = False,
) -> AsyncIterator[Backend]:
    """An open client; with ``demo`` or no key, backed by an embedded emulator."""
    if demo or settings.uses_emulator:
        if notice is not None:
            notice(DEMO_NOTICE if demo else EMULATOR_NOTICE)
        config = emulator or EmulatorConfig(faults=FaultConfig.from_env(os.environ))
        async with (
            running_emulator(config) as running,
            ImagenClient(
                running.base_url, EMULATOR_KEY, key_source="the built-in emulator", logger=logger
            ) as client,
        ):
            yield Backend(client, "emulator", running)
        return
    assert settings.api_key is not None
    async with ImagenClient(
        settings.base_url,
        settings.api_key.get_secret_value(),
        key_source=settings.api_key_source,
        logger=logger,
    ) as client:
        yield Backend(client, "imagen")
