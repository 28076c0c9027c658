"""The per-app state every route reads: config, store, projects, clock, background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bridge.emulator.config import EmulatorConfig
from bridge.emulator.objectstore import ObjectStore
from bridge.emulator.projects import Job, Outcome, Projects

log = logging.getLogger(__name__)
_DRAIN_TIMEOUT_S = 10.0


@dataclass
class EmulatorState:
    config: EmulatorConfig
    store: ObjectStore
    projects: Projects
    clock: Callable[[], float]
    tasks: set[asyncio.Task[Outcome]] = field(default_factory=set)

    def now(self) -> float:
        return self.clock()

    def start_job(self, work: Awaitable[Outcome], *, delay: float = 0.0) -> Job:
        """A job that reports progress over ``processing_s`` while ``work`` builds its outputs."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(_log_failure)
        return Job(self.now() + delay, self.config.faults.processing_s, task)

    async def drain(self) -> None:
        """Let running jobs finish writing (or cancel them) before the store goes away."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=_DRAIN_TIMEOUT_S)
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _log_failure(task: asyncio.Task[Outcome]) -> None:
    """A job that crashed is reported as Failed to clients; the traceback goes to the log."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("emulator job failed", exc_info=error)


STATE_KEY = web.AppKey("emulator_state", EmulatorState)


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]
