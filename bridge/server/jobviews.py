"""Serialized job views, kept fresh by one watcher per job that is being read.

``GET /v1/jobs/{id}`` is what every client polls, often many times a second. Reading the
job from the store each time costs a thread hop, two queries and a model per request;
instead the server keeps each polled job's JSON and one watcher per job that long-polls the
engine and replaces the JSON when the revision moves. Long polls wait on the same entry, so
a hundred clients watching one job cost one engine wait.

Freshness: changes made in this process arrive at once (the engine wakes the watcher);
changes made by another process (a CLI ``edit`` driving its own job) within ``REFRESH_S``.
Calls through this server that change a job store the view they return, so a client reads
its own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from bridge.jobs.engine import JobEngine
from bridge.jobs.errors import JobNotFound
from bridge.jobs.models import JobView

log = logging.getLogger("bridge.server")

#: The longest a change made outside this process may go unseen.
REFRESH_S = 1.0
#: A job nobody read for this long is no longer watched (longer than the longest long poll).
IDLE_S = 90.0


@dataclass
class Entry:
    view: JobView
    body: bytes
    read_at: float
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class JobViews:
    """The cache; :meth:`close` stops every watcher."""

    def __init__(self, engine: JobEngine, stopping: asyncio.Event) -> None:
        self._engine = engine
        self._stopping = stopping
        self._entries: dict[str, Entry] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}

    async def get(self, job_id: str) -> Entry:
        """The job's current entry (raises JobNotFound)."""
        entry = self._entries.get(job_id)
        if entry is None:
            view = await self._engine.get(job_id)
            self.put(view)
            entry = self._entries[job_id]
        entry.read_at = time.monotonic()
        return entry

    async def wait(self, job_id: str, since: int, seconds: float) -> Entry:
        """The entry once its revision passes ``since``, or after ``seconds``, or at shutdown."""
        entry = await self.get(job_id)
        deadline = time.monotonic() + seconds
        while entry.view.revision <= since and not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            changed = asyncio.ensure_future(entry.changed.wait())
            stopping = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait((changed, stopping), timeout=left, return_when="FIRST_COMPLETED")
            finally:
                changed.cancel()
                stopping.cancel()
            entry = await self.get(job_id)
        return entry

    def put(self, view: JobView) -> bytes:
        """Store ``view`` unless a newer one is held; returns ``view`` serialized."""
        body = view.model_dump_json().encode("utf-8")
        entry = self._entries.get(view.id)
        if entry is None:
            self._entries[view.id] = Entry(view, body, time.monotonic())
            self._watchers[view.id] = asyncio.create_task(
                self._watch(view.id), name=f"watch {view.id}"
            )
        elif view.revision >= entry.view.revision:
            moved = view.revision > entry.view.revision
            entry.view, entry.body = view, body
            if moved:
                entry.changed.set()
                entry.changed = asyncio.Event()
        return body

    async def _watch(self, job_id: str) -> None:
        try:
            while not self._stopping.is_set():
                entry = self._entries[job_id]
                if time.monotonic() - entry.read_at > IDLE_S:
                    return
                view = await self._engine.wait(job_id, entry.view.revision, REFRESH_S)
                self.put(view)
        except JobNotFound:
            pass  # pruned meanwhile
        except Exception:
            log.exception("watching job %s failed; it is read afresh next time", job_id)
        finally:
            dropped = self._entries.pop(job_id, None)
            self._watchers.pop(job_id, None)
            if dropped is not None:
                dropped.changed.set()  # long polls on it read afresh

    async def close(self) -> None:
        watchers = list(self._watchers.values())
        for task in watchers:
            task.cancel()
        for task in watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
