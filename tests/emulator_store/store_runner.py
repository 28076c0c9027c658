"""Serve one ObjectStore on 127.0.0.1 in a process of its own, so a test can watch its memory.

Usage: ``python store_runner.py ROOT KEY``. Prints one JSON line (pid, presigned PUT and GET
URLs for KEY) once listening, then serves until terminated.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from aiohttp import web

from bridge.emulator.faults import FaultConfig, Faults
from bridge.emulator.objectstore import ObjectStore


async def serve(root: Path, key: str) -> None:
    faults = Faults(FaultConfig())
    store = ObjectStore(root, faults=faults)
    app = web.Application(middlewares=[faults.middleware()])
    app.add_routes(store.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    links = {
        "pid": os.getpid(),
        "put": store.presign("PUT", key, origin=origin),
        "get": store.presign("GET", key, origin=origin),
        "warmup_put": store.presign("PUT", "warmup", origin=origin),
        "warmup_get": store.presign("GET", "warmup", origin=origin),
    }
    print(json.dumps(links), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), sys.argv[2]))
