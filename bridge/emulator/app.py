"""Assemble and run the emulator: one aiohttp app serving ``/v1`` (Imagen), ``/storage`` (S3),
``/imgwire`` and ``/imagekit`` (the delivery targets), all with the same fault injection.

``create_app`` builds the application; ``running_emulator`` serves it on a loopback port for
tests, the CLI and the bridge's offline mode.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bridge.emulator import imagekit, imgwire, routes_classic, routes_enhance, routes_i2i
from bridge.emulator.accesslog import AccessLog
from bridge.emulator.auth import require_api_key
from bridge.emulator.config import EmulatorConfig
from bridge.emulator.envelope import CONFIG_KEY, json_errors
from bridge.emulator.faults import Faults
from bridge.emulator.objectstore import ObjectStore
from bridge.emulator.projects import Projects
from bridge.emulator.state import STATE_KEY, EmulatorState
from bridge.emulator.validation import MAX_JSON_BODY

__all__ = ["EmulatorConfig", "RunningEmulator", "check_loopback", "create_app", "running_emulator"]


def create_app(
    config: EmulatorConfig | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    imgwire_config: imgwire.ImgwireConfig | None = None,
    imagekit_config: imagekit.ImagekitConfig | None = None,
) -> web.Application:
    """The emulator app. ``clock`` (monotonic seconds) times jobs; tests may pass a fake one."""
    config = config or EmulatorConfig()
    faults = Faults(config.faults)
    answers = {imgwire.PREFIX: imgwire.fault_answer, imagekit.PREFIX: imagekit.fault_answer}
    # Outermost, the access log sees every answer, injected faults included.
    access_log = AccessLog(config.access_log) if config.access_log is not None else None
    logging = [access_log.middleware] if access_log is not None else []
    app = web.Application(
        middlewares=[*logging, json_errors, faults.middleware(answers), require_api_key],
        client_max_size=MAX_JSON_BODY,
    )
    if config.storage_dir is not None:
        root = config.storage_dir
        root.mkdir(parents=True, exist_ok=True)
        temporary = False
    else:
        root = Path(tempfile.mkdtemp(prefix="imagen-emulator-"))
        temporary = True
    store = ObjectStore(root, faults=faults)
    state = EmulatorState(config=config, store=store, projects=Projects(), clock=clock)
    if access_log is not None:
        access_log.install(app)
    app[CONFIG_KEY] = config
    app[STATE_KEY] = state
    app.add_routes(routes_classic.routes)
    app.add_routes(routes_i2i.routes)
    app.add_routes(routes_enhance.routes)
    app.add_routes(store.routes())
    app.add_subapp(
        imgwire.PREFIX,
        imgwire.create_imgwire_app(
            imgwire_config or imgwire.ImgwireConfig(),
            faults=faults,
            store=store,
            root=root / "imgwire",
            clock=clock,
        ),
    )
    app.add_subapp(
        imagekit.PREFIX,
        imagekit.create_imagekit_app(
            imagekit_config or imagekit.ImagekitConfig(), faults=faults, root=root / "imagekit"
        ),
    )

    async def _cleanup(_: web.Application) -> None:
        await state.drain()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
        if access_log is not None:
            access_log.close()

    app.on_cleanup.append(_cleanup)
    return app


@dataclass(frozen=True)
class RunningEmulator:
    base_url: str  # "http://127.0.0.1:PORT/v1"
    origin: str  # "http://127.0.0.1:PORT"
    config: EmulatorConfig

    @property
    def imgwire_url(self) -> str:
        """Imgwire's base URL: its API is under ``/api/v1/images``."""
        return self.origin + imgwire.PREFIX

    @property
    def imagekit_url(self) -> str:
        """ImageKit's base URL (the SDK's ``base_url``): upload and ``/v1`` below it."""
        return self.origin + imagekit.PREFIX


def check_loopback(host: str) -> None:
    """The emulator listens on loopback only: it has no real auth and serves any upload back."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"Refusing to listen on {host!r}: the emulator binds loopback addresses only "
            "(127.0.0.1, ::1 or localhost)."
        )


@asynccontextmanager
async def running_emulator(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.monotonic,
    imgwire_config: imgwire.ImgwireConfig | None = None,
    imagekit_config: imagekit.ImagekitConfig | None = None,
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator on ``host:port`` (0 picks a free port) until the block exits."""
    check_loopback(host)
    config = config or EmulatorConfig()
    app = create_app(
        config, clock=clock, imgwire_config=imgwire_config, imagekit_config=imagekit_config
    )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        origin = f"http://{shown_host}:{bound_port}"
        yield RunningEmulator(base_url=f"{origin}/v1", origin=origin, config=config)
    finally:
        await runner.cleanup()
