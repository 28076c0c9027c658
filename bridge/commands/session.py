"""The Imagen client a one-shot command uses, with the emulator notice on stderr."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from rich.console import Console

from bridge.emulator.app import EmulatorConfig
from bridge.imagen import ImagenClient
from bridge.jobs.backend import open_backend
from bridge.settings import Settings


def notice_on(err: Console) -> Callable[[str], None]:
    return lambda text: err.print(text, style="yellow", highlight=False)


@asynccontextmanager
async def imagen_client(
    settings: Settings,
    *,
    err: Console,
    logger: logging.Logger | None = None,
    emulator: EmulatorConfig | None = None,
    demo: bool = False,
) -> AsyncIterator[ImagenClient]:
    """An open client; with ``demo`` or no key, backed by an embedded emulator."""
    async with open_backend(
        settings, notice=notice_on(err), logger=logger, emulator=emulator, demo=demo
    ) as backend:
        yield backend.client
