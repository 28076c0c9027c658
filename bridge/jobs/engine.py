"""Durable jobs: accept, run, record, resume, report; the core both the server and ``edit`` use.

A job is written to the store before it runs, and every step the runner
finishes is recorded (see :class:`_StoreCheckpoint`), so a bridge killed at any
moment resumes each unfinished job where it stopped: finished uploads, parts,
edits and downloads are not repeated, and a sidecar merge reuses the job's merge
id (merging the same result twice changes nothing). A lease (owner pid + token,
renewed while running) keeps two processes from driving one job.

Every change bumps the job's ``revision`` and wakes long polls and event
streams once the change is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.emulator.app import EmulatorConfig
from bridge.imagen import (
    ImagenAuthError,
    ImagenClient,
    ImagenError,
    ImagenValidationError,
    MultipartUpload,
    PhotographyType,
    Profile,
)
from bridge.jobs.backend import open_backend
from bridge.jobs.checkpoint import Checkpoint, OpenUpload
from bridge.jobs.errors import JobConflict, JobNotFound, JobRequestError
from bridge.jobs.events import FileBytes, PhotoFinished, PhotoStatus, ProjectPhase, RunEvent
from bridge.jobs.flows import Step
from bridge.jobs.models import (
    AppliedRequest,
    Counts,
    JobError,
    JobList,
    JobRequest,
    JobState,
    JobView,
    PhotoList,
    PhotoState,
    PhotoView,
    SidecarResult,
)
from bridge.jobs.options import edit_options, expectation_for, resolve_profile
from bridge.jobs.plan import (
    ImageKind,
    Photo,
    Plan,
    PlannedProject,
    check_photo,
    collision_key,
    folder_clashes,
)
from bridge.jobs.plan import partition as partition_photos
from bridge.jobs.results import develop_settings_of, merge_photos
from bridge.jobs.runner import EditRequest, ProjectState, run_edit
from bridge.jobs.store import Store, dumps, from_db, to_db
from bridge.settings import Settings
from bridge.transfer import Transfer
from bridge.xmp.journal import new_merge_id

LEASE_S = 30.0
HOUSEKEEPING_S = 2.0
PROFILE_CACHE_S = 600.0
PROGRESS_EVERY_S = 0.5
MIN_FREE_BYTES = 64 * 2**20
OUTPUT_BYTES_PER_PHOTO = 4 * 2**20  # sidecars are small; DNGs and exports are not
_ENDED_PHOTO = tuple(state.value for state in PhotoState if state.ended)
_PHOTO_COLUMNS = (
    "idx, caller_id, path, kind, size, project, state, reason, revision, uploaded, "
    "bytes_done, outputs, exports, sidecar, hdr_output, applied_at, apply_error"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_job_id() -> str:
    return f"j-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _pid_alive(owner: str | None) -> bool:
    """Whether the process named in a lease still runs (on this machine)."""
    if not owner:
        return False
    try:
        pid = int(owner.split(":", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _revise(db: sqlite3.Connection, job_id: str) -> int:
    """The job's next revision, taken inside the transaction that makes the change.

    Taken in SQL, not in memory, so two processes writing one job (a cancel asked for
    from the command line) never reuse or lower a revision.
    """
    row = db.execute(
        "UPDATE jobs SET revision = revision + 1, updated_at = ? WHERE id = ? RETURNING revision",
        (_now(), job_id),
    ).fetchone()
    return int(row[0]) if row else 0


def _kind_word(photo: Photo) -> str:
    if photo.kind is ImageKind.JPEG:
        return "JPEG"
    return "DNG" if photo.is_dng else "RAW"


@dataclass
class _Live:
    """What the engine keeps in memory for a job it drives or watches."""

    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    canceled: bool = False
    bytes: dict[int, int] = field(default_factory=dict)  # photo index -> bytes sent
    bytes_flushed: float = 0.0


class JobEngine:
    """Open with :meth:`open`; every public method is safe to call from the event loop."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: ImagenClient,
        transfer: Transfer,
        backend: str,
        *,
        logger: logging.Logger,
        max_jobs: int,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.transfer = transfer
        self.backend = backend
        self.api_key_configured = not settings.uses_emulator
        self.log = logger
        self.owner = f"{os.getpid()}:{secrets.token_hex(4)}"
        self._live: dict[str, _Live] = {}
        self._slots = asyncio.Semaphore(max_jobs)
        self._profiles: tuple[float, list[Profile]] | None = None
        self._stopping = False
        self._renewer: asyncio.Task[None] | None = None
        self.adopt = False
        self._sinks: dict[str, Callable[[RunEvent], None]] = {}

    # ---- lifecycle ------------------------------------------------------------------------
    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        resume: bool = True,
        adopt: bool = False,
        notice: Callable[[str], None] | None = None,
        logger: logging.Logger | None = None,
        demo: bool = False,
        emulator: EmulatorConfig | None = None,
        max_jobs: int = 2,
        transfers: int = 8,
    ) -> AsyncIterator[JobEngine]:
        """Open the store and the backend.

        ``resume`` picks up every orphaned job now; ``adopt`` (the server) keeps doing
        so, for jobs queued by other processes or left by one that died.
        """
        log = logger or logging.getLogger("bridge.jobs")
        async with (
            Store.open(settings.data_dir) as store,
            open_backend(
                settings, notice=notice, logger=log, demo=demo, emulator=emulator
            ) as backend,
            Transfer(concurrency=transfers, logger=log) as transfer,
        ):
            engine = cls(
                settings, store, backend.client, transfer, backend.name,
                logger=log, max_jobs=max_jobs,
            )  # fmt: skip
            engine.adopt = adopt
            engine._renewer = asyncio.create_task(engine._housekeeping(), name="job-leases")
            try:
                if resume:
                    await engine.resume_orphans()
                yield engine
            finally:
                await engine.stop()

    async def stop(self) -> None:
        """Stop driving jobs; in-flight steps are recorded, leases released for the next run."""
        self._stopping = True
        if self._renewer is not None:
            self._renewer.cancel()
        tasks = [live.task for live in self._live.values() if live.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        owner = self.owner
        await self.store.write(
            lambda db: db.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                (owner,),
            )
        )

    async def _housekeeping(self) -> None:
        """Renew leases, honour cancels asked for by other processes, adopt orphaned jobs."""
        owner = self.owner

        def renew(db: sqlite3.Connection) -> list[str]:
            db.execute(
                "UPDATE jobs SET lease_until = ? WHERE lease_owner = ?",
                (time.time() + LEASE_S, owner),
            )
            return [
                row[0]
                for row in db.execute(
                    "SELECT id FROM jobs WHERE lease_owner = ? AND cancel_requested = 1", (owner,)
                )
            ]

        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                for job_id in await self.store.write(renew):
                    live = self._live.get(job_id)
                    if live is not None and live.task is not None and not live.task.done():
                        live.canceled = True
                        live.task.cancel()
                if self.adopt:
                    await self.resume_orphans()
            except Exception as exc:  # keep going: the next round may succeed
                self.log.warning("job housekeeping failed: %s", exc)

    async def resume_orphans(self) -> list[str]:
        """Start every queued or running job whose owner is gone; returns their ids."""
        rows = await self.store.read(
            lambda db: db.execute(
                "SELECT id, lease_owner, lease_until FROM jobs WHERE state IN ('queued', 'running')"
                " ORDER BY seq"
            ).fetchall()
        )
        started = []
        for row in rows:
            held = row["lease_owner"] and _pid_alive(row["lease_owner"])
            if held and (row["lease_until"] or 0) > time.time():
                continue
            self.start(row["id"])
            started.append(row["id"])
        return started

    # ---- creating -------------------------------------------------------------------------
    async def profiles(self, refresh: bool = False) -> list[Profile]:
        cached = self._profiles
        if cached is not None and not refresh and time.monotonic() - cached[0] < PROFILE_CACHE_S:
            return cached[1]
        profiles = await self.client.profiles()
        self._profiles = (time.monotonic(), profiles)
        return profiles

    async def create(
        self,
        request: JobRequest,
        *,
        idempotency_key: str | None = None,
        start: bool = True,
    ) -> tuple[JobView, bool]:
        """Record a new job (or find the one ``idempotency_key`` made) and start it."""
        digest = hashlib.sha256(dumps(request.model_dump(mode="json")).encode()).hexdigest()
        if idempotency_key is not None:
            existing = await self._by_key(idempotency_key, digest)
            if existing is not None:
                return existing, False
        checked = await self._check(request)
        job_id = _new_job_id()
        out_dir = Path(request.out_dir) if request.out_dir else self.settings.data_dir / "outputs"
        if not request.out_dir:
            out_dir = out_dir / job_id
        now = _now()
        run_name = f"imagen-bridge {job_id}"

        def insert(db: sqlite3.Connection) -> None:
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
            db.execute(
                "INSERT INTO jobs (id, seq, state, request, request_hash, idempotency_key,"
                " out_dir, label, run_name, revision, created_at, updated_at)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (
                    job_id, seq, dumps(request.model_dump(mode="json")), digest, idempotency_key,
                    to_db(str(out_dir)), request.label, run_name, now, now,
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO photos (job_id, idx, caller_id, path, kind, size, state, reason,"
                " revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                [
                    (
                        job_id, index, photo.id, to_db(photo.path),
                        _kind_word(found) if isinstance(found, Photo) else None,
                        found.size if isinstance(found, Photo) else 0,
                        "queued" if isinstance(found, Photo) else "failed",
                        None if isinstance(found, Photo) else to_db(found),
                    )
                    for index, (photo, found) in enumerate(
                        zip(request.photos, checked, strict=True)
                    )
                ],
            )  # fmt: skip

        try:
            await self.store.write(insert)
        except sqlite3.IntegrityError:
            if idempotency_key is None:
                raise
            existing = await self._by_key(idempotency_key, digest)
            assert existing is not None
            return existing, False
        self._live[job_id] = _Live()
        if start:
            self.start(job_id)
        return await self.get(job_id), True

    async def _by_key(self, key: str, digest: str) -> JobView | None:
        row = await self.store.read(
            lambda db: db.execute(
                "SELECT id, request_hash FROM jobs WHERE idempotency_key = ?", (key,)
            ).fetchone()
        )
        if row is None:
            return None
        if row["request_hash"] != digest:
            raise JobConflict(
                f"The Idempotency-Key {key!r} was used for another request (job {row['id']})"
            )
        return await self.get(row["id"])

    async def _check(self, request: JobRequest) -> list[Photo | str]:
        """Request-wide problems raise JobRequestError; each photo's become its reason."""
        try:
            edit_options(request)
            if request.photography_type is not None:
                PhotographyType.parse(request.photography_type)
        except ImagenValidationError as exc:
            raise JobRequestError(str(exc), path="tools") from None
        seen: dict[tuple[int, int], int] = {}
        checked: list[Photo | str] = await asyncio.to_thread(
            lambda: [check_photo(p.path, seen, i) for i, p in enumerate(request.photos)]
        )
        expect = None
        if request.smart:
            expect = expectation_for(None)
        else:
            assert request.profile_key is not None
            profile = resolve_profile(await self.profiles(), request.profile_key)
            expect = expectation_for(profile)
        if expect is not None:
            checked = [
                f"{_kind_word(c)} file, but the {expect.reason}"
                if isinstance(c, Photo) and c.kind is not expect.kind
                else c
                for c in checked
            ]
        if request.tools.hdr_merge:
            clashes = folder_clashes([c for c in checked if isinstance(c, Photo)])
            checked = [clashes.get(c.path, c) if isinstance(c, Photo) else c for c in checked]
        if not any(isinstance(c, Photo) for c in checked):
            problems = [f"photos.{i}: {reason}" for i, reason in enumerate(checked)]
            raise JobRequestError(
                "No photo of this job can be edited: " + "; ".join(map(str, problems[:20])),
                path="photos",
            )
        return checked

    # ---- reading --------------------------------------------------------------------------
    def _job_view(self, db: sqlite3.Connection, job_id: str) -> JobView:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"No job {job_id!r}")
        counts = Counts()
        total = 0
        bytes_total = 0
        bytes_done = 0
        for state, count, size, done in db.execute(
            "SELECT state, COUNT(*), SUM(size), SUM(bytes_done) FROM photos WHERE job_id = ?"
            " GROUP BY state",
            (job_id,),
        ):
            setattr(counts, state, count)
            total += count
            bytes_total += size or 0
            bytes_done += done or 0
        live = self._live.get(job_id)
        if live is not None and live.bytes:
            bytes_done = max(bytes_done, self._memory_bytes(db, job_id, live))
        request = json.loads(row["request"])
        error = (
            JobError(code=row["error_code"], message=row["error_message"] or "")
            if row["error_code"]
            else None
        )
        return JobView(
            id=row["id"],
            state=JobState(row["state"]),
            revision=row["revision"],
            label=row["label"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            counts=counts,
            photos_total=total,
            bytes_done=min(bytes_done, bytes_total),
            bytes_total=bytes_total,
            error=error,
            out_dir=from_db(row["out_dir"]) or "",
            merge_id=row["merge_id"],
            unmatched_outputs=[
                path
                for (extras,) in db.execute(
                    "SELECT extras FROM projects WHERE job_id = ? ORDER BY idx", (job_id,)
                )
                for path in json.loads(extras)
            ],
            request={k: v for k, v in request.items() if k not in ("photos", "out_dir", "label")},
        )

    @staticmethod
    def _memory_bytes(db: sqlite3.Connection, job_id: str, live: _Live) -> int:
        stored = dict(
            db.execute(
                "SELECT idx, CASE WHEN uploaded THEN size ELSE bytes_done END FROM photos"
                " WHERE job_id = ?",
                (job_id,),
            ).fetchall()
        )
        stored.update({i: max(b, stored.get(i, 0)) for i, b in live.bytes.items()})
        return sum(stored.values())

    async def get(self, job_id: str) -> JobView:
        view: JobView = await self.store.read(lambda db: self._job_view(db, job_id))
        return view

    async def list_jobs(
        self, states: Sequence[JobState] = (), limit: int = 50, before: str | None = None
    ) -> JobList:
        def query(db: sqlite3.Connection) -> JobList:
            where, params = [], []
            if states:
                where.append(f"state IN ({','.join('?' * len(states))})")
                params += [s.value for s in states]
            if before is not None:
                row = db.execute("SELECT seq FROM jobs WHERE id = ?", (before,)).fetchone()
                if row is None:
                    raise JobNotFound(f"No job {before!r} (the 'before' cursor)")
                where.append("seq < ?")
                params.append(row[0])
            sql = "SELECT id FROM jobs"
            if where:
                sql += " WHERE " + " AND ".join(where)
            ids = [
                r[0] for r in db.execute(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit + 1])
            ]
            views = [self._job_view(db, i) for i in ids[:limit]]
            return JobList(jobs=views, next=ids[limit - 1] if len(ids) > limit else None)

        result: JobList = await self.store.read(query)
        return result

    async def wait(self, job_id: str, since: int, seconds: float) -> JobView:
        """The job as soon as its revision passes ``since``, or after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            live = self._live.setdefault(job_id, _Live())
            event = live.changed
            view = await self.get(job_id)
            left = deadline - time.monotonic()
            if view.revision > since or left <= 0:
                return view
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await event.wait()

    def _photo_view(self, row: sqlite3.Row, *, settings: bool, request: JobRequest) -> PhotoView:
        state = PhotoState(row["state"])
        develop = None
        if settings and state in (PhotoState.READY, PhotoState.APPLIED):
            develop = develop_settings_of(row["kind"], json.loads(row["outputs"]))
        sidecar = SidecarResult(**json.loads(row["sidecar"])) if row["sidecar"] else None
        live = self._live.get(row["job_id"]) if "job_id" in row.keys() else None  # noqa: SIM118
        done = row["size"] if row["uploaded"] else row["bytes_done"]
        if live is not None:
            done = max(done, live.bytes.get(row["idx"], 0))
        return PhotoView(
            index=row["idx"],
            id=row["caller_id"],
            path=from_db(row["path"]),
            kind=row["kind"],
            state=state,
            reason=from_db(row["reason"]),
            revision=row["revision"],
            bytes_done=min(done, row["size"]),
            bytes_total=row["size"],
            outputs=json.loads(row["outputs"]),
            exports=json.loads(row["exports"]),
            sidecar=sidecar,
            develop_settings=develop,
            hdr_output=from_db(row["hdr_output"]),
            project=row["project"],
            applied_at=row["applied_at"],
            apply_error=row["apply_error"],
        )

    async def photos(
        self,
        job_id: str,
        states: Sequence[PhotoState] = (),
        settings: bool = True,
        since: int | None = None,
    ) -> PhotoList:
        def query(db: sqlite3.Connection) -> PhotoList:
            job = db.execute("SELECT request FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if job is None:
                raise JobNotFound(f"No job {job_id!r}")
            request = JobRequest.model_validate(json.loads(job[0]))
            sql = f"SELECT job_id, {_PHOTO_COLUMNS} FROM photos WHERE job_id = ?"
            params: list[Any] = [job_id]
            if states:
                sql += f" AND state IN ({','.join('?' * len(states))})"
                params += [s.value for s in states]
            if since is not None:
                sql += " AND revision > ?"
                params.append(since)
            rows = db.execute(sql + " ORDER BY idx", params).fetchall()
            return PhotoList(
                photos=[self._photo_view(r, settings=settings, request=request) for r in rows]
            )

        result: PhotoList = await self.store.read(query)
        return result

    async def changes(
        self, job_id: str, since: int | None
    ) -> AsyncIterator[tuple[int, str, JobView | PhotoView]]:
        """The job, then photos changed since ``since``, then live changes until it ends."""
        view = await self.get(job_id)
        yield view.revision, "job", view
        seen = since
        while True:
            photos = await self.photos(job_id, settings=False, since=seen)
            for photo in sorted(photos.photos, key=lambda p: p.revision):
                yield photo.revision, "photo", photo
            seen = max([view.revision, *(p.revision for p in photos.photos)])
            if view.state.ended:
                return
            view = await self.wait(job_id, seen, 15.0)
            if view.revision > seen or view.state.ended:
                yield view.revision, "job", view

    # ---- acting on jobs -------------------------------------------------------------------
    async def cancel(self, job_id: str) -> JobView:
        """Cancel the job: here if this engine drives it, else by asking its owner."""
        view = await self.get(job_id)
        if view.state.ended:
            return view
        live = self._live.setdefault(job_id, _Live())
        if live.task is not None and not live.task.done():
            live.canceled = True
            live.task.cancel()
            await asyncio.wait({live.task})
            return await self.get(job_id)
        owner = await self.store.read(
            lambda db: db.execute(
                "SELECT lease_owner, lease_until FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        )
        if owner[0] and owner[0] != self.owner and _pid_alive(owner[0]):
            await self._job_update(job_id, "cancel_requested = 1")
            return await self.wait(job_id, view.revision + 1, 2 * HOUSEKEEPING_S + 1)
        await self._end_canceled(job_id)
        return await self.get(job_id)

    async def retry(self, job_id: str, indexes: Sequence[int] | None = None) -> JobView:
        view = await self.get(job_id)
        if not view.state.ended:
            raise JobConflict(f"Job {job_id} is {view.state.value}; retry once it has ended")

        def requeue(db: sqlite3.Connection) -> int:
            rows = db.execute(
                "SELECT idx, state, kind FROM photos WHERE job_id = ?", (job_id,)
            ).fetchall()
            wanted = set(indexes) if indexes is not None else None
            if wanted is not None:
                unknown = wanted - {r[0] for r in rows}
                if unknown:
                    raise JobRequestError(f"No photo {min(unknown)} in job {job_id}", path="photos")
            again = [
                r[0]
                for r in rows
                if r[1] in ("failed", "canceled") and r[2] and (wanted is None or r[0] in wanted)
            ]
            revision = _revise(db, job_id)
            db.executemany(
                "UPDATE photos SET state = 'queued', reason = NULL, project = NULL, uploaded = 0,"
                " bytes_done = 0, outputs = '[]', exports = '[]', revision = ?"
                " WHERE job_id = ? AND idx = ?",
                [(revision, job_id, i) for i in again],
            )
            if again:
                db.execute(
                    "UPDATE jobs SET state = 'queued', error_code = NULL, error_message = NULL,"
                    " finished_at = NULL WHERE id = ?",
                    (job_id,),
                )
            return len(again)

        if await self.store.write(requeue):
            self._changed(job_id)
            live = self._live[job_id]
            live.canceled = False
            self.start(job_id)
        return await self.get(job_id)

    async def applied(self, job_id: str, report: AppliedRequest) -> PhotoList:
        await self.get(job_id)
        now = _now()

        def record(db: sqlite3.Connection) -> None:
            revision = _revise(db, job_id)
            for item in report.photos:
                row = db.execute(
                    "SELECT state FROM photos WHERE job_id = ? AND idx = ?", (job_id, item.index)
                ).fetchone()
                if row is None:
                    raise JobRequestError(f"No photo {item.index} in job {job_id}", path="photos")
                if row[0] not in ("ready", "applied"):
                    raise JobConflict(
                        f"Photo {item.index} of job {job_id} is {row[0]}, not ready to apply"
                    )
                if item.applied:
                    db.execute(
                        "UPDATE photos SET state = 'applied', applied_at = ?, apply_error = NULL,"
                        " revision = ? WHERE job_id = ? AND idx = ?",
                        (now, revision, job_id, item.index),
                    )
                else:
                    db.execute(
                        "UPDATE photos SET apply_error = ?, revision = ? WHERE job_id = ? AND"
                        " idx = ?",
                        (item.reason or "not applied", revision, job_id, item.index),
                    )

        await self.store.write(record)
        self._changed(job_id)
        wanted = {item.index for item in report.photos}
        photos = await self.photos(job_id, settings=False)
        return PhotoList(photos=[p for p in photos.photos if p.index in wanted])

    async def prune(self, older_than: timedelta) -> int:
        """Forget ended jobs finished more than ``older_than`` ago (their default outputs too)."""
        cutoff = (datetime.now(UTC) - older_than).isoformat()
        outputs = self.settings.data_dir / "outputs"

        def delete(db: sqlite3.Connection) -> list[tuple[str, str]]:
            gone = db.execute(
                "SELECT id, out_dir FROM jobs WHERE state IN ('done', 'failed', 'canceled')"
                " AND finished_at < ?",
                (cutoff,),
            ).fetchall()
            db.executemany("DELETE FROM jobs WHERE id = ?", [(g[0],) for g in gone])
            return gone

        gone = await self.store.write(delete)
        for job_id, out_dir in gone:
            self._live.pop(job_id, None)
            if Path(out_dir) == outputs / job_id:
                await asyncio.to_thread(shutil.rmtree, out_dir, True)
        return len(gone)

    def watch(self, job_id: str, sink: Callable[[RunEvent], None]) -> None:
        """Also send the runner's events of ``job_id`` to ``sink`` (the CLI's progress bars)."""
        self._sinks[job_id] = sink

    async def join(self, job_id: str) -> JobView:
        """Wait until the job this engine drives has ended (or stopped)."""
        live = self._live.get(job_id)
        if live is not None and live.task is not None:
            await asyncio.wait({live.task})  # the caller's own cancellation still reaches it
        return await self.get(job_id)

    # ---- revisions ------------------------------------------------------------------------
    def _changed(self, job_id: str) -> None:
        live = self._live.get(job_id)
        if live is not None:
            live.changed.set()
            live.changed = asyncio.Event()

    async def _photo_update(self, job_id: str, index: int, sql: str, params: Sequence[Any]) -> None:
        """``UPDATE photos SET <sql>`` for one photo, with a new revision, made durable."""
        await self.store.write(self._photo_op(job_id, index, sql, params))
        self._changed(job_id)

    def _photo_update_soon(self, job_id: str, index: int, sql: str, params: Sequence[Any]) -> None:
        """The same, queued: the change is announced once it is durable."""
        op = self._photo_op(job_id, index, sql, params)
        self.store.write_soon(op, then=lambda: self._changed(job_id))

    def _photo_op(
        self, job_id: str, index: int, sql: str, params: Sequence[Any]
    ) -> Callable[[sqlite3.Connection], None]:
        def op(db: sqlite3.Connection) -> None:
            db.execute(
                f"UPDATE photos SET {sql}, revision = ? WHERE job_id = ? AND idx = ?",
                (*params, _revise(db, job_id), job_id, index),
            )

        return op

    async def _job_update(self, job_id: str, sql: str, params: Sequence[Any] = ()) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute(f"UPDATE jobs SET {sql} WHERE id = ?", (*params, job_id))
            _revise(db, job_id)

        await self.store.write(op)
        self._changed(job_id)

    # ---- driving a job --------------------------------------------------------------------
    def start(self, job_id: str) -> None:
        """Run the job (once: a job already running here is left alone)."""
        live = self._live.setdefault(job_id, _Live())
        if live.task is not None and not live.task.done():
            return
        live.task = asyncio.create_task(self._drive(job_id), name=f"job {job_id}")

    async def _claim(self, job_id: str) -> bool:
        owner, until, now = self.owner, time.time() + LEASE_S, time.time()

        def claim(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT lease_owner, lease_until FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None:
                return False
            held = row[0] and row[0] != owner and _pid_alive(row[0]) and (row[1] or 0) > now
            if held:
                return False
            db.execute(
                "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (owner, until, job_id),
            )
            return True

        claimed: bool = await self.store.write(claim)
        return claimed

    async def _drive(self, job_id: str) -> None:
        try:
            async with self._slots:
                if self._stopping or not await self._claim(job_id):
                    return
                await self._run(job_id)
        except asyncio.CancelledError:
            live = self._live.get(job_id)
            if live is not None and live.canceled:
                await asyncio.shield(self._end_canceled(job_id))
            raise
        except ImagenAuthError as exc:
            await self._end(job_id, JobState.FAILED, ("auth", str(exc)))
        except (ImagenError, OSError, RuntimeError, JobRequestError) as exc:
            self.log.warning("job %s failed: %s", job_id, exc)
            await self._end(job_id, JobState.FAILED, ("failed", str(exc)))

    async def _end(self, job_id: str, state: JobState, error: tuple[str, str] | None) -> None:
        code, message = error or (None, None)
        await self._job_update(
            job_id,
            "state = ?, finished_at = ?, error_code = ?, error_message = ?",
            (state.value, _now(), code, message),
        )

    async def _end_canceled(self, job_id: str) -> None:
        now = _now()

        def cancel(db: sqlite3.Connection) -> None:
            revision = _revise(db, job_id)
            db.execute(
                "UPDATE photos SET state = 'canceled', reason = 'canceled', revision = ?"
                f" WHERE job_id = ? AND state NOT IN ({','.join('?' * len(_ENDED_PHOTO))})",
                (revision, job_id, *_ENDED_PHOTO),
            )
            db.execute(
                "UPDATE jobs SET state = 'canceled', finished_at = ?, cancel_requested = 0"
                " WHERE id = ?",
                (now, job_id),
            )

        await self.store.write(cancel)
        self._changed(job_id)

    async def _run(self, job_id: str) -> None:
        job = await self.store.read(
            lambda db: db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        )
        request = JobRequest.model_validate(json.loads(job["request"]))
        out_dir = Path(from_db(job["out_dir"]) or "")
        if job["state"] == "queued":
            await self._job_update(job_id, "state = 'running', started_at = ?", (_now(),))
        states, photos = await self._project_states(job_id, request, out_dir)
        if not await self._has_room(job_id, out_dir, photos):
            return
        options, i2i = edit_options(request)
        edit = EditRequest(
            plan=Plan(projects=tuple(s.project for s in states)),
            out_dir=out_dir,
            profile_key=request.profile_key,
            photography_type=(
                PhotographyType.parse(request.photography_type)
                if request.photography_type
                else None
            ),
            options=options,
            i2i=i2i,
            export=request.export,
            send_md5=request.md5,
            run_name=job["run_name"],
        )
        checkpoint = _StoreCheckpoint(self, job_id, photos)
        checkpoint.engine_request_merge = request.merge
        checkpoint.track(states)
        await checkpoint.load_uploads()
        if states:
            await run_edit(
                self.client,
                edit,
                on_event=functools.partial(self._on_event, job_id, photos, checkpoint),
                logger=self.log,
                states=states,
                checkpoint=checkpoint,
                transfer=self.transfer,
            )
        await self._finish(job_id, request, photos, job["merge_id"])

    async def _has_room(self, job_id: str, out_dir: Path, photos: dict[Path, int]) -> bool:
        """Refuse to start downloads into a disk that cannot hold them."""
        probe = out_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = (await asyncio.to_thread(shutil.disk_usage, probe)).free
        except OSError:
            return True
        need = MIN_FREE_BYTES + OUTPUT_BYTES_PER_PHOTO * len(photos)
        if free >= need:
            return True
        await self._end(
            job_id,
            JobState.FAILED,
            (
                "disk_full",
                f"Only {free // 2**20} MB free in {probe}; this job needs about "
                f"{need // 2**20} MB for its outputs. Free some space and retry.",
            ),
        )
        return False

    async def _project_states(
        self, job_id: str, request: JobRequest, out_dir: Path
    ) -> tuple[list[ProjectState], dict[Path, int]]:
        """Projects to run: those a previous run left unfinished, and new ones for the rest."""

        def load(db: sqlite3.Connection) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
            photos = db.execute(
                f"SELECT job_id, {_PHOTO_COLUMNS} FROM photos WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
            projects = db.execute(
                "SELECT * FROM projects WHERE job_id = ? ORDER BY idx", (job_id,)
            ).fetchall()
            return photos, projects

        photo_rows, project_rows = await self.store.read(load)
        index_of: dict[Path, int] = {}
        by_project: dict[int, list[tuple[sqlite3.Row, Photo]]] = {}
        unplanned: list[Photo] = []
        for row in photo_rows:
            if row["kind"] is None:
                continue  # refused when the job was created
            path = Path(os.path.abspath(from_db(row["path"]) or ""))  # noqa: PTH100, ASYNC240 - no I/O; as check_photo spells it
            kind = ImageKind.JPEG if row["kind"] == "JPEG" else ImageKind.RAW
            photo = Photo(path=path, size=row["size"], kind=kind)
            index_of[photo.path] = row["idx"]
            if row["state"] in _ENDED_PHOTO and row["state"] != "failed":
                continue
            if row["project"] is None:
                if row["state"] == "queued":
                    unplanned.append(photo)
            else:
                by_project.setdefault(row["project"], []).append((row, photo))

        states: list[ProjectState] = []
        for project_row in project_rows:
            members = by_project.get(project_row["idx"], [])
            if not members or all(r["state"] in _ENDED_PHOTO for r, _ in members):
                continue
            project = PlannedProject(
                index=project_row["idx"],
                kind=ImageKind(project_row["kind"]),
                photos=tuple(p for _, p in members),
                subdir=project_row["subdir"],
            )
            states.append(_restore(project, project_row, members))
        if unplanned:
            first = max((r["idx"] for r in project_rows), default=0) + 1
            planned = partition_photos(
                unplanned, keep_folders_together=request.tools.hdr_merge, first_index=first
            )
            if first > 1:
                planned = tuple(
                    PlannedProject(p.index, p.kind, p.photos, f"project-{p.index}") for p in planned
                )

            def record(db: sqlite3.Connection) -> None:
                for project in planned:
                    db.execute(
                        "INSERT INTO projects (job_id, idx, kind, subdir) VALUES (?, ?, ?, ?)",
                        (job_id, project.index, project.kind.value, project.subdir),
                    )
                    db.executemany(
                        "UPDATE photos SET project = ? WHERE job_id = ? AND idx = ?",
                        [(project.index, job_id, index_of[p.path]) for p in project.photos],
                    )

            await self.store.write(record)
            states += [ProjectState(project) for project in planned]
        return states, index_of

    def _on_event(
        self,
        job_id: str,
        photos: dict[Path, int],
        checkpoint: _StoreCheckpoint,
        event: RunEvent,
    ) -> None:
        sink = self._sinks.get(job_id)
        if sink is not None:
            sink(event)
        if isinstance(event, ProjectPhase):
            checkpoint.phase(event.project, event.phase)
        elif isinstance(event, FileBytes) and event.direction == "upload":
            index = checkpoint.index_of_name(event.project, event.name)
            if index is not None:
                live = self._live[job_id]
                live.bytes[index] = event.done
                now = time.monotonic()
                if now - live.bytes_flushed >= PROGRESS_EVERY_S:
                    live.bytes_flushed = now
                    self._flush_bytes(job_id)
        elif isinstance(event, PhotoFinished):
            checkpoint.photo_finished(event)

    def _flush_bytes(self, job_id: str) -> None:
        live = self._live[job_id]
        values = list(live.bytes.items())

        def op(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE photos SET bytes_done = ? WHERE job_id = ? AND idx = ?",
                [(done, job_id, i) for i, done in values],
            )
            _revise(db, job_id)

        self.store.write_soon(op, then=lambda: self._changed(job_id))

    async def _finish(
        self, job_id: str, request: JobRequest, photos: dict[Path, int], merge_id: str | None
    ) -> None:
        """Merge the sidecars of edited raws, mark photos ready, and end the job."""
        await self.store.write(lambda db: None)  # what the runner queued is durable first
        rows = await self.store.read(
            lambda db: db.execute(
                f"SELECT job_id, {_PHOTO_COLUMNS} FROM photos WHERE job_id = ? AND state ="
                " 'merging' ORDER BY idx",
                (job_id,),
            ).fetchall()
        )
        if rows:
            if merge_id is None:
                merge_id = new_merge_id(datetime.now(UTC))
                await self._job_update(job_id, "merge_id = ?", (merge_id,))
            pairs = [
                (Path(out), Path(from_db(row["path"]) or ""), row["idx"])
                for row in rows
                for out in json.loads(row["outputs"])
                if out.lower().endswith(".xmp")
            ]
            results = await asyncio.to_thread(
                merge_photos, pairs, self.settings.data_dir, merge_id, request.naming
            )

            def ready(db: sqlite3.Connection) -> None:
                revision = _revise(db, job_id)
                db.executemany(
                    "UPDATE photos SET state = 'ready', sidecar = ?, revision = ?"
                    " WHERE job_id = ? AND idx = ?",
                    [
                        (dumps(results.get(row["idx"])) if row["idx"] in results else None,
                         revision, job_id, row["idx"])
                        for row in rows
                    ],
                )  # fmt: skip

            await self.store.write(ready)
        await self._end(job_id, JobState.DONE, None)


def _restore(
    project: PlannedProject, row: sqlite3.Row, members: Sequence[tuple[sqlite3.Row, Photo]]
) -> ProjectState:
    """The state a previous run recorded for ``project``."""
    state = ProjectState(project, uuid=row["uuid"])
    for photo_row, photo in members:
        if photo_row["state"] == "failed":
            state.errors[photo.path] = photo_row["reason"] or "failed"
            state.finished.add(photo.path)
        elif photo_row["uploaded"]:
            state.uploaded.append(photo)
        if outputs := json.loads(photo_row["outputs"]):
            state.outputs[photo.path] = [Path(p) for p in outputs]
        if exports := json.loads(photo_row["exports"]):
            state.exports[photo.path] = [Path(p) for p in exports]
    for step in ("edit", "export"):
        if row[step] != "none":
            state.steps[step] = row[step]
    state.edit_details = row["edit_details"]
    state.done_files = set(json.loads(row["done_files"]))
    state.extras = [Path(p) for p in json.loads(row["extras"])]
    return state


class _StoreCheckpoint(Checkpoint):
    """Makes each step of one job's projects durable, and moves its photos through states."""

    def __init__(self, engine: JobEngine, job_id: str, photos: dict[Path, int]) -> None:
        self.engine = engine
        self.job_id = job_id
        self.photos = photos
        self._uploads: dict[int, OpenUpload] = {}
        self._names: dict[tuple[int, str], int] = {}
        self._members: dict[int, list[int]] = {}

    def track(self, states: Sequence[ProjectState]) -> None:
        for state in states:
            for photo in state.project.photos:
                index = self.photos[photo.path]
                self._names[(state.project.index, photo.name)] = index
                self._members.setdefault(state.project.index, []).append(index)

    async def load_uploads(self) -> None:
        job_id = self.job_id
        rows = await self.engine.store.read(
            lambda db: db.execute("SELECT * FROM uploads WHERE job_id = ?", (job_id,)).fetchall()
        )
        for row in rows:
            upload = MultipartUpload.model_validate(
                {"upload_id": row["upload_id"], "key": row["key"], "parts": json.loads(row["urls"])}
            )
            done = frozenset(json.loads(row["done_parts"]))
            self._uploads[row["photo_idx"]] = OpenUpload(upload, row["part_size"], done)

    def index_of_name(self, project: int, name: str) -> int | None:
        return self._names.get((project, name))

    async def _project(self, project: int, sql: str, params: Sequence[Any]) -> None:
        job_id = self.job_id
        await self.engine.store.write(
            lambda db: db.execute(
                f"UPDATE projects SET {sql} WHERE job_id = ? AND idx = ?",
                (*params, job_id, project),
            )
        )

    async def created(self, project: int, uuid: str) -> None:
        await self._project(project, "uuid = ?", (uuid,))

    async def uploaded(self, photo: Photo) -> None:
        await self.engine._photo_update(
            self.job_id, self.photos[photo.path], "uploaded = 1, state = 'editing'", ()
        )

    def failed(self, photo: Photo, reason: str) -> None:
        self.engine._photo_update_soon(
            self.job_id, self.photos[photo.path], "state = 'failed', reason = ?", (to_db(reason),)
        )

    async def step(self, project: int, step: Step, stage: str, details: str | None = None) -> None:
        if stage == "reset":
            job_id = self.job_id

            def reset(db: sqlite3.Connection) -> None:
                db.execute(
                    "UPDATE projects SET uuid = NULL, edit = 'none', export = 'none',"
                    " edit_details = NULL, done_files = '[]', extras = '[]'"
                    " WHERE job_id = ? AND idx = ?",
                    (job_id, project),
                )
                db.execute(
                    "UPDATE photos SET uploaded = 0, outputs = '[]', exports = '[]'"
                    " WHERE job_id = ? AND project = ? AND state != 'failed'",
                    (job_id, project),
                )

            await self.engine.store.write(reset)
            return
        if step == "edit" and stage == "done":
            await self._project(project, "edit = ?, edit_details = ?", (stage, details))
        else:
            await self._project(project, f"{step} = ?", (stage,))

    async def downloaded(
        self, project: int, step: Step, name: str, photo: Photo | None, path: Path
    ) -> None:
        job_id = self.job_id
        key = f"{step}/{collision_key(name)}"
        column = "exports" if step == "export" else "outputs"
        index = self.photos[photo.path] if photo is not None else None

        def record(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE projects SET done_files = json_insert(done_files, '$[#]', json(?))"
                + (", extras = json_insert(extras, '$[#]', json(?))" if index is None else "")
                + " WHERE job_id = ? AND idx = ?",
                (dumps(key), *(() if index is not None else (dumps(str(path)),)), job_id, project),
            )
            if index is not None:
                db.execute(
                    f"UPDATE photos SET {column} = json_insert({column}, '$[#]', json(?))"
                    " WHERE job_id = ? AND idx = ?",
                    (dumps(str(path)), job_id, index),
                )

        await self.engine.store.write(record)

    async def upload_opened(self, photo: Photo, upload: OpenUpload) -> None:
        job_id, index = self.job_id, self.photos[photo.path]
        parts = [part.model_dump(mode="json") for part in upload.upload.parts]
        self._uploads[index] = upload
        await self.engine.store.write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO uploads (job_id, photo_idx, upload_id, key, part_size,"
                " urls, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    index,
                    upload.upload.upload_id,
                    upload.upload.key,
                    upload.part_size,
                    dumps(parts),
                    time.time(),
                ),
            )
        )

    def part_done(self, photo: Photo, number: int) -> None:
        job_id, index = self.job_id, self.photos[photo.path]
        self.engine.store.write_soon(
            lambda db: db.execute(
                "UPDATE uploads SET done_parts = json_insert(done_parts, '$[#]', ?)"
                " WHERE job_id = ? AND photo_idx = ?",
                (number, job_id, index),
            )
        )

    async def upload_closed(self, photo: Photo) -> None:
        job_id, index = self.job_id, self.photos[photo.path]
        self._uploads.pop(index, None)
        await self.engine.store.write(
            lambda db: db.execute(
                "DELETE FROM uploads WHERE job_id = ? AND photo_idx = ?", (job_id, index)
            )
        )

    def open_upload(self, photo: Photo) -> OpenUpload | None:
        return self._uploads.get(self.photos[photo.path])

    def keeps_open_uploads(self) -> bool:
        live = self.engine._live.get(self.job_id)
        return not (live is not None and live.canceled)

    def phase(self, project: int, phase: str) -> None:
        """Photos of ``project`` move on with it: upload, then (after the edit) download."""
        moves = {"upload": ("queued", "uploading"), "download": ("editing", "downloading")}
        if phase not in moves:
            return
        before, after = moves[phase]
        job_id = self.job_id
        members = self._members.get(project, [])

        def move(db: sqlite3.Connection) -> None:
            revision = _revise(db, job_id)
            db.executemany(
                "UPDATE photos SET state = ?, revision = ? WHERE job_id = ? AND idx = ?"
                " AND state = ?",
                [(after, revision, job_id, i, before) for i in members],
            )

        self.engine.store.write_soon(move, then=lambda: self.engine._changed(job_id))

    def photo_finished(self, event: PhotoFinished) -> None:
        result = event.result
        index = self.photos[result.photo.path]
        if result.status is not PhotoStatus.EDITED:
            return  # failures were recorded by failed(); a cancel is recorded by the engine
        outputs = [str(p) for p in result.outputs]
        merge = (
            self.engine_request_merge
            and result.photo.kind is ImageKind.RAW
            and not result.photo.is_dng
            and any(o.lower().endswith(".xmp") for o in outputs)
        )
        hdr = next((o for o in outputs if o.lower().endswith("_hdr.dng")), None)
        self.engine._photo_update_soon(
            self.job_id,
            index,
            "state = ?, outputs = ?, exports = ?, hdr_output = ?",
            (
                "merging" if merge else "ready",
                dumps(outputs),
                dumps([str(p) for p in result.exports]),
                to_db(hdr),
            ),
        )

    engine_request_merge: bool = True
