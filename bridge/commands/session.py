"""Which Imagen a command talks to: the real service with the configured key, or the emulator.

Without a key the built-in emulator runs in this process on a random loopback
port, and a notice on stderr says so every time, so nobody mistakes emulated
edits for real ones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.console import Console

from bridge.emulator.app import EmulatorConfig, running_emulator
from bridge.emulator.faults import FaultConfig
from bridge.imagen import ImagenClient
from bridge.settings import EMULATOR_NOTICE, Settings

EMULATOR_KEY = "emulator"  # the embedded emulator accepts any non-empty key
DEMO_NOTICE = (
    "Demo: using the built-in offline emulator (always, even with an API key configured). "
    "The sample files are synthetic stand-ins, not real RAW photos."
)


@asynccontextmanager
async def imagen_client(
    settings: Settings,
    *,
    err: Console,
    logger: logging.Logger | None = None,
    emulator: EmulatorConfig | None = None,
    demo: bool = False,
) -> AsyncIterator[ImagenClient]:
    """An open client; with ``demo`` or no key, backed by an embedded emulator.

    Emulator faults can be set through ``IMAGEN_EMULATOR_FAULT_*`` variables
    (see ``imagen-bridge emulator --help``) when ``emulator`` is not given.
    """
    if demo or settings.uses_emulator:
        err.print(DEMO_NOTICE if demo else EMULATOR_NOTICE, style="yellow", highlight=False)
        config = emulator or EmulatorConfig(faults=FaultConfig.from_env(os.environ))
        async with (
            running_emulator(config) as running,
            ImagenClient(
                running.base_url, EMULATOR_KEY, key_source="the built-in emulator", logger=logger
            ) as client,
        ):
            yield client
        return
    assert settings.api_key is not None
    async with ImagenClient(
        settings.base_url,
        settings.api_key.get_secret_value(),
        key_source=settings.api_key_source,
        logger=logger,
    ) as client:
        yield client
