from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

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
