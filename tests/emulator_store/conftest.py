"""A real object store on a real 127.0.0.1 socket, mounted like the emulator mounts it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bridge.emulator.faults import FaultConfig, Faults
from bridge.emulator.objectstore import ObjectStore


class FakeClock:
    """Wall-clock time the test can move forward, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Store:
    store: ObjectStore
    origin: str
    root: Path
    clock: FakeClock


MakeStore = Callable[..., Awaitable[Store]]


async def _ping(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest.fixture
async def make_store(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> MakeStore:
    """``await make_store(rate_503=0.2, ..., max_object_size=...)`` -> a served store."""
    count = 0

    async def make(**options: Any) -> Store:
        nonlocal count
        count += 1
        store_options = {
            name: options.pop(name)
            for name in ("max_object_size", "idle_timeout")
            if name in options
        }
        faults = Faults(FaultConfig.from_mapping(options))
        clock = FakeClock()
        root = tmp_path / f"store{count}"
        store = ObjectStore(root, faults=faults, clock=clock, **store_options)
        app = web.Application(middlewares=[faults.middleware()])
        app.add_routes(store.routes())
        app.router.add_get("/v1/ping/{n}", _ping)
        server = await aiohttp_server(app, host="127.0.0.1")
        origin = f"http://127.0.0.1:{server.port}"
        return Store(store, origin, root, clock)

    return make


@pytest.fixture
async def served(make_store: MakeStore) -> Store:
    """A store without faults."""
    return await make_store()
