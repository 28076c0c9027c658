"""Uploading a 300 MB file must not load it into memory (the official SDK reads it whole)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

SIZE = 300 * 10**6

# Runs in a fresh interpreter so its RSS is the uploader's alone.
UPLOADER = r"""
import asyncio, json, sys, threading, time
from pathlib import Path
import psutil
from bridge.transfer import Transfer

url, path, warmup = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
proc = psutil.Process()
peak = 0
done = threading.Event()

def sample():
    global peak
    while not done.is_set():
        peak = max(peak, proc.memory_info().rss)
        time.sleep(0.005)

async def main():
    async with Transfer() as transfer:
        await transfer.put_file(warmup, url, name="warmup")  # imports, pools, threads
        baseline = proc.memory_info().rss
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            await transfer.put_file(path, url, name=path.name)
        finally:
            done.set()
            sampler.join()
    print(json.dumps({"baseline": baseline, "peak": peak}))

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_300_mb_upload_keeps_memory_flat(
    aiohttp_server: Callable[[web.Application], Awaitable[Any]], tmp_path: Path
) -> None:
    received: list[tuple[int, str, dict[str, str]]] = []

    async def sink(request: web.Request) -> web.Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(2**20):
            digest.update(chunk)
            size += len(chunk)
        received.append((size, digest.hexdigest(), dict(request.headers)))
        return web.Response()

    app = web.Application()
    app.router.add_put("/sink", sink)
    server = await aiohttp_server(app)
    big = tmp_path / "huge.tif"
    with big.open("wb") as handle:  # sparse: no disk space, reads as zeros
        handle.truncate(SIZE)
    warmup = tmp_path / "warmup.jpg"
    warmup.write_bytes(b"x" * 2**20)

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UPLOADER, str(server.make_url("/sink")), str(big), str(warmup),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    measured = json.loads(out)

    size, digest, headers = received[-1]
    assert size == SIZE
    zeros, expected = bytes(10**6), hashlib.sha256()
    for _ in range(SIZE // 10**6):
        expected.update(zeros)
    assert digest == expected.hexdigest()
    assert headers["Content-Length"] == str(SIZE)
    assert "Transfer-Encoding" not in headers
    growth = measured["peak"] - measured["baseline"]
    print(f"RSS growth during a 300 MB upload: {growth / 2**20:.1f} MiB")
    assert growth < 48 * 2**20, f"RSS grew by {growth / 2**20:.0f} MiB during a 300 MB upload"
