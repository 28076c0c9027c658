"""The emulator's memory: projects of both families, their files, and their timed jobs.

A job's status is a function of the (monotonic) clock: Pending for the first tenth of
``processing_s``, then In Progress with a rising progress, then Completed or Failed once the
time is up *and* its outputs exist. Outputs are built in a worker thread from the moment the
job starts, so a poll never waits on a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from bridge.emulator.options import EditRequest, I2IRequest
from bridge.emulator.validation import ApiError

Family = Literal["classic", "i2i"]
PENDING, IN_PROGRESS, COMPLETED, FAILED = "Pending", "In Progress", "Completed", "Failed"
# How long a status poll may wait for outputs whose time is already up.
_SETTLE_WAIT_S = 5.0


@dataclass(frozen=True)
class OutputFile:
    name: str  # the file name clients download
    key: str  # object store key
    sources: tuple[str, ...]  # uploaded file names it was made from
    exposure: float = 0.0  # the edit's Exposure2012, so exports look edited


@dataclass(frozen=True)
class Outcome:
    outputs: tuple[OutputFile, ...]
    failures: tuple[tuple[str, str], ...]  # (uploaded file name, reason)
    total: int  # uploaded files the job worked on

    @property
    def all_failed(self) -> bool:
        return not self.outputs

    def details(self) -> str | None:
        if not self.failures:
            return None
        listed = ", ".join(f"{name} ({reason})" for name, reason in self.failures)
        return f"Could not edit {len(self.failures)} of {self.total} photos: {listed}"


@dataclass(frozen=True)
class JobStatus:
    status: str  # canonical title case
    progress: float
    details: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in (COMPLETED, FAILED)


class Job:
    """One edit, export or Smart Editing run, timed by ``processing_s``."""

    def __init__(self, started: float, duration: float, work: asyncio.Task[Outcome]) -> None:
        self.started = started
        self.duration = duration
        self.work = work

    def status(self, now: float) -> JobStatus:
        elapsed = now - self.started
        if elapsed < 0 or (elapsed < self.duration * 0.1 and not self._done_and_due(now)):
            return JobStatus(PENDING, 0.0)
        if not self._done_and_due(now):
            fraction = elapsed / self.duration if self.duration > 0 else 1.0
            return JobStatus(IN_PROGRESS, round(min(99.0, max(1.0, 100 * fraction)), 1))
        if self.work.cancelled() or self.work.exception() is not None:
            return JobStatus(FAILED, 100.0, "Processing failed inside the emulator.")
        outcome = self.work.result()
        return JobStatus(FAILED if outcome.all_failed else COMPLETED, 100.0, outcome.details())

    def _done_and_due(self, now: float) -> bool:
        return self.work.done() and now - self.started >= self.duration

    async def settle(self, now: float) -> None:
        """If the job's time is up, give its worker a moment to finish writing outputs."""
        if now - self.started >= self.duration and not self.work.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self.work), _SETTLE_WAIT_S)

    def outcome(self, now: float) -> Outcome | None:
        """The finished outcome once the status says Completed or Failed."""
        if not self.status(now).terminal or self.work.cancelled():
            return None
        if self.work.exception() is not None:
            return None
        return self.work.result()


def upload_key(project_uuid: str, file_name: str) -> str:
    """Where an uploaded file lives in the object store (jobs read it from there)."""
    return f"projects/{project_uuid}/uploads/{file_name}"


@dataclass(frozen=True)
class Multipart:
    upload_id: str
    file_name: str
    key: str


@dataclass
class Project:
    uuid: str
    family: Family
    name: str
    project_id: int
    created_at: str
    files: dict[str, str | None] = field(default_factory=dict)  # requested name -> md5
    edit: Job | None = None
    edit_request: EditRequest | I2IRequest | None = None
    export: Job | None = None
    multiparts: dict[str, Multipart] = field(default_factory=dict)
    versions: dict[str, list[str]] = field(default_factory=dict)  # image -> enhanced keys

    def upload_key(self, file_name: str) -> str:
        return upload_key(self.uuid, file_name)

    def export_key(self, file_name: str) -> str:
        return f"projects/{self.uuid}/export/{file_name}"

    def running(self, now: float) -> bool:
        return any(
            job is not None and not job.status(now).terminal for job in (self.edit, self.export)
        )


class Projects:
    """All projects of one emulator, newest last; names are unique per family."""

    def __init__(self) -> None:
        self._projects: dict[str, Project] = {}
        self._ids = itertools.count(1001)

    def create(self, family: Family, name: str | None) -> Project:
        if name is not None and any(
            p.family == family and p.name == name for p in self._projects.values()
        ):
            raise ApiError(400, f"Project with name '{name}' already exists.")
        project_uuid = str(uuid_module.uuid4())
        project = Project(
            uuid=project_uuid,
            family=family,
            name=name if name is not None else project_uuid,
            project_id=next(self._ids),
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        self._projects[project_uuid] = project
        return project

    def get(self, family: Family, project_uuid: str) -> Project:
        project = self._projects.get(project_uuid)
        if project is None or project.family != family:
            what = "Smart Editing project" if family == "i2i" else "Project"
            raise ApiError(404, f"{what} {project_uuid!r} not found.")
        return project

    def by_name(self, family: Family, name: str) -> Project:
        for project in self._projects.values():
            if project.family == family and project.name == name:
                return project
        raise ApiError(404, f"Project with name {name!r} not found.")

    def newest_first(self, family: Family) -> list[Project]:
        return [p for p in reversed(self._projects.values()) if p.family == family]

    def all(self) -> Iterable[Project]:
        return self._projects.values()
