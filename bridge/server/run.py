"""Serve the app until asked to stop: lock, engine, socket, ``server.json``, then the reverse.

The order matters. The data-dir lock comes first, so two processes never drive the same
jobs; the engine opens before the socket, so the first request finds it ready; on the way
out the socket closes first (streams and long polls answer and end), then the engine
records what was in flight, then ``server.json`` goes and the lock is released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from aiohttp import web

from bridge.jobs.engine import JobEngine
from bridge.server.app import create_app
from bridge.server.instance import (
    InstanceLock,
    ServerInfo,
    remove_server_file,
    server_file,
    write_server_file,
)
from bridge.server.logs import setup_logging, teardown_logging
from bridge.server.token import load_or_create_token
from bridge.settings import Settings

log = logging.getLogger("bridge.server")

HOST = "127.0.0.1"
#: Seconds open requests get to finish once a stop is asked for.
SHUTDOWN_GRACE_S = 5.0

OpenEngine = Callable[[Settings], AbstractAsyncContextManager[JobEngine]]


class PortInUse(Exception):
    """The port cannot be bound; the message says which and what to do."""


async def run_server(
    settings: Settings,
    port: int,
    open_engine: OpenEngine,
    stop: asyncio.Event,
    *,
    on_ready: Callable[[ServerInfo], None] | None = None,
) -> None:
    """Serve on ``127.0.0.1:port`` (0: a free port) until ``stop`` is set.

    Raises :class:`~bridge.server.instance.AlreadyRunning` when another server holds the
    data dir, :class:`PortInUse` when the port is taken.
    """
    lock = InstanceLock(settings.data_dir)
    lock.acquire()
    token = load_or_create_token()
    secrets = [token] + ([settings.api_key.get_secret_value()] if settings.api_key else [])
    handlers = setup_logging(settings.data_dir, secrets)
    try:
        async with open_engine(settings) as engine:
            app = create_app(engine=engine, settings=settings, token=token, start_merge_worker=True)
            runner = web.AppRunner(
                app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_S
            )
            await runner.setup()
            info: ServerInfo | None = None
            try:
                try:
                    await web.TCPSite(runner, HOST, port).start()
                except OSError as exc:
                    raise PortInUse(
                        f"cannot listen on {HOST}:{port}: {exc.strerror or exc} (another program "
                        "may use it; pick another with --port, or 0 for any free port)"
                    ) from exc
                info = ServerInfo.now(runner.addresses[0][1])
                write_server_file(info, server_file())
                lock.describe(f"pid {info.pid}, {info.url}")
                log.info("serving %s (backend: %s, pid %d)", info.url, engine.backend, info.pid)
                if on_ready is not None:
                    on_ready(info)
                await engine.resume_orphans()  # clients can follow them from the start
                await stop.wait()
                log.info("stopping")
            finally:
                await runner.cleanup()
                if info is not None:
                    remove_server_file(info, server_file())
        log.info("stopped")
    finally:
        teardown_logging(handlers)
        lock.release()
