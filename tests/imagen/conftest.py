"""Fixtures for the Imagen client tests: a scripted API double and a client bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from bridge.imagen import ClientTimeouts, ImagenClient
from bridge.transfer import RetryPolicy
from tests.imagen.api_double import ApiDouble
from tests.transfer.conftest import sleeps  # noqa: F401 - the fixture, shared

SECRET_KEY = "sk-live-THIS-MUST-NEVER-LEAK-0123456789"
KEY_SOURCE = "the IMAGEN_API_KEY environment variable"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def api(aiohttp_server: Callable[[web.Application], Awaitable[Any]]) -> ApiDouble:
    double = ApiDouble()
    server = await aiohttp_server(double.app())
    double.base_url = str(server.make_url("/v1"))
    return double


@pytest.fixture
async def client(api: ApiDouble) -> AsyncIterator[ImagenClient]:
    async with ImagenClient(
        api.base_url,
        SECRET_KEY,
        key_source=KEY_SOURCE,
        retry_policy=FAST_RETRY,
        timeouts=ClientTimeouts(poll_read=0.3),
    ) as imagen:
        yield imagen
