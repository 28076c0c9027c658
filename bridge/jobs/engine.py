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
import itertools
import json
import logging
import multiprocessing
import os
import secrets
import shutil
import sqlite3
import time
from array import array
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.delivery import (
    DeliveryError,
    DeliveryEvent,
    DeliveryItem,
    ImagekitOptions,
    Target,
    deliver_all,
    emulator_notice,
    open_client,
    uses_emulator,
)
from bridge.emulator.app import EmulatorConfig, RunningEmulator, running_emulator
from bridge.emulator.faults import FaultConfig
from bridge.imagen import (
    ImagenAuthError,
    ImagenClient,
    ImagenError,
    ImagenValidationError,
    PhotographyType,
    Profile,
)
from bridge.jobs.backend import open_backend
from bridge.jobs.book import (
    ENDED_PHOTO,
    HOUSEKEEPING_S,
    PHOTO_COLUMNS,
    JobBook,
    Live,
    now_text,
    pid_alive,
    revise,
)
from bridge.jobs.errors import JobConflict, JobRequestError
from bridge.jobs.events import FileBytes, PhotoFinished, ProjectPhase, RunEvent
from bridge.jobs.exports import place_export
from bridge.jobs.models import (
    MAX_PHOTOS,
    DeliverySpec,
    DeliveryView,
    JobSpec,
    JobState,
    JobView,
)
from bridge.jobs.options import (
    HDR_EXPECTATION,
    SMART_EXPECTATION,
    edit_options,
    expectation_for,
    resolve_profile,
)
from bridge.jobs.plan import (
    PROJECT_PHOTOS,
    Expectation,
    ImageKind,
    Photo,
    Plan,
    PlannedProject,
    assign_projects,
    check_photo,
    folder_clashes,
    project_member,
    project_subdir,
)
from bridge.jobs.recording import StoreCheckpoint, restore
from bridge.jobs.results import merge_photos
from bridge.jobs.runner import EditRequest, ProjectState, run_projects
from bridge.jobs.store import Store, dumps, from_db, to_db
from bridge.settings import Settings
from bridge.transfer import Transfer, TransferProcess
from bridge.workers import follow_parent
from bridge.xmp.journal import new_merge_id

LEASE_S = 30.0
PROFILE_CACHE_S = 600.0
PROGRESS_EVERY_S = 0.5
MIN_FREE_BYTES = 64 * 2**20
SIDECAR_BYTES = 256 * 2**10  # a returned sidecar, with room to spare
PROJECTS_AT_ONCE = 3
"""Projects a job runs together: one can upload while others edit or download, and the job
holds this many projects' photos in memory (see ``plan.PROJECT_PHOTOS``), not all of them."""


def room_needed(photos: Iterable[tuple[bool, int]], *, images: bool, export: bool) -> int:
    """Free disk space a job's outputs need (checked before anything is downloaded), from
    each photo's ``(comes back as an image, size)``.

    A sidecar per photo, and about the photo's own size for each image that comes back: the
    edited JPEG or DNG of a JPEG or DNG, an export, and with ``images`` (HDR merges, Smart
    Editing) an image for every photo.
    """
    need = MIN_FREE_BYTES
    for is_image, size in photos:
        back = int(images or is_image) + int(export)
        need += SIDECAR_BYTES + back * size
    return need


def _image_kind(word: str) -> ImageKind:
    """The kind of a photo row's ``kind`` (RAW, DNG or JPEG: see ``_kind_word``)."""
    return ImageKind.JPEG if word == "JPEG" else ImageKind.RAW


def _photo_path(text: str) -> Path:
    return Path(os.path.abspath(from_db(text) or ""))  # noqa: PTH100 - no I/O; as check_photo spells it


def _new_job_id() -> str:
    return f"j-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _digest(spec: JobSpec, paths: Sequence[str], ids: Sequence[str | None]) -> str:
    """Of the whole request, photo by photo: no copy of a 20,000-photo list in memory."""
    digest = hashlib.sha256(dumps(spec.model_dump(mode="json")).encode())
    for path, caller_id in zip(paths, ids, strict=True):
        digest.update(dumps([path, caller_id]).encode())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class _Checks:
    """Each photo's check, as columns (a request may name 20,000 files): its kind word and
    size, or, with no kind, the reason it cannot be edited."""

    kinds: list[str | None] = field(default_factory=list)
    sizes: array[int] = field(default_factory=lambda: array("q"))
    reasons: dict[int, str] = field(default_factory=dict)

    def add(self, position: int, found: tuple[str, int] | str) -> None:
        """The next photo's check (``position`` is its place, for the reasons)."""
        assert position == len(self.kinds)
        if isinstance(found, str):
            self.kinds.append(None)
            self.sizes.append(0)
            self.reasons[position] = found
        else:
            self.kinds.append(found[0])
            self.sizes.append(found[1])

    def refuse(self, position: int, reason: str) -> None:
        self.kinds[position] = None
        self.sizes[position] = 0
        self.reasons[position] = reason

    def columns(self, position: int) -> tuple[str | None, int, str, str | bytes | None]:
        """The photo's ``kind, size, state, reason`` as the photos table takes them."""
        kind = self.kinds[position]
        if kind is None:
            return None, 0, "failed", to_db(self.reasons[position])
        return kind, self.sizes[position], "queued", None


def _kind_word(photo: Photo) -> str:
    if photo.kind is ImageKind.JPEG:
        return "JPEG"
    return "DNG" if photo.is_dng else "RAW"


class JobEngine(JobBook):
    """Open with :meth:`open`; drives jobs (its own and, with ``adopt``, orphaned ones)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: ImagenClient,
        transfer: Transfer | TransferProcess,
        backend: str,
        *,
        logger: logging.Logger,
        max_jobs: int,
    ) -> None:
        super().__init__(settings, store, logger=logger)
        self.client = client
        self.transfer = transfer
        self.backend = backend
        self.emulator: RunningEmulator | None = None  # the embedded one, if any
        self._extra = contextlib.AsyncExitStack()  # emulators started for delivery
        self._merger: ProcessPoolExecutor | None = None  # a serving engine's merge process
        self.api_key_configured = not settings.uses_emulator
        self._slots = asyncio.Semaphore(max_jobs)
        self._profiles: tuple[float, list[Profile]] | None = None
        self._stopping = False
        self._renewer: asyncio.Task[None] | None = None
        self.adopt = False
        self.isolate = False
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
        transfers: int | None = None,
        isolate: bool = False,
    ) -> AsyncIterator[JobEngine]:
        """Open the store and the backend.

        ``resume`` picks up every orphaned job now; ``adopt`` (the server) keeps doing
        so, for jobs queued by other processes or left by one that died. ``isolate`` (the
        server) moves the CPU-heavy work, transfers and sidecar merges, into helper
        processes, so the caller's event loop never waits for the GIL meanwhile.
        """
        log = logger or logging.getLogger("bridge.jobs")
        moving = TransferProcess if isolate else Transfer
        async with (
            Store.open(settings.data_dir) as store,
            open_backend(
                settings, notice=notice, logger=log, demo=demo, emulator=emulator
            ) as backend,
            moving(concurrency=transfers or settings.transfers, logger=log) as transfer,
        ):
            engine = cls(
                settings, store, backend.client, transfer, backend.name,
                logger=log, max_jobs=settings.max_jobs,
            )  # fmt: skip
            engine.adopt, engine.isolate = adopt, isolate
            engine._renewer = asyncio.create_task(engine._housekeeping(), name="job-leases")
            try:
                if adopt:
                    await engine.prune(timedelta(days=settings.job_retention_days))
                if resume:
                    await engine.resume_orphans()
                yield engine
            finally:
                await engine.stop()
                await engine._extra.aclose()
                if engine._merger is not None:
                    engine._merger.shutdown(wait=True, cancel_futures=True)

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
            held = row["lease_owner"] and pid_alive(row["lease_owner"])
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
        spec: JobSpec,
        paths: Sequence[str],
        ids: Sequence[str | None] | None = None,
        *,
        idempotency_key: str | None = None,
        start: bool = True,
    ) -> tuple[JobView, bool]:
        """Record a new job of the photos at ``paths`` (with the caller's ``ids``; see
        :meth:`JobRequest.split`), or find the one ``idempotency_key`` made, and start it."""
        if not paths or len(paths) > MAX_PHOTOS:
            raise JobRequestError(f"A job has 1 to {MAX_PHOTOS:,} photos", path="photos")
        caller_ids: Sequence[str | None] = ids if ids is not None else [None] * len(paths)
        digest = _digest(spec, paths, caller_ids)
        if idempotency_key is not None:
            existing = await self._by_key(idempotency_key, digest)
            if existing is not None:
                return existing, False
        checks = await self._check(spec, paths)
        job_id = _new_job_id()
        out_dir = Path(spec.out_dir) if spec.out_dir else self.settings.data_dir / "outputs"
        if not spec.out_dir:
            out_dir = out_dir / job_id
        now = now_text()
        run_name = f"imagen-bridge {job_id}"

        def insert(db: sqlite3.Connection) -> None:
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
            db.execute(
                "INSERT INTO jobs (id, seq, state, request, request_hash, idempotency_key,"
                " out_dir, label, run_name, revision, created_at, updated_at)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (
                    job_id, seq, dumps(spec.model_dump(mode="json")), digest, idempotency_key,
                    to_db(str(out_dir)), spec.label, run_name, now, now,
                ),
            )  # fmt: skip
            db.executemany(  # rows made as they are inserted, not listed first
                "INSERT INTO photos (job_id, idx, caller_id, path, kind, size, state, reason,"
                " revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    (job_id, i, caller_ids[i], to_db(path), *checks.columns(i))
                    for i, path in enumerate(paths)
                ),
            )

        try:
            await self.store.write(insert)
        except sqlite3.IntegrityError:
            if idempotency_key is None:
                raise
            existing = await self._by_key(idempotency_key, digest)
            assert existing is not None
            return existing, False
        self._live[job_id] = Live()
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

    async def _check(self, spec: JobSpec, paths: Sequence[str]) -> _Checks:
        """Request-wide problems raise JobRequestError; each photo's become its reason."""
        try:
            edit_options(spec)
            if spec.photography_type is not None:
                PhotographyType.parse(spec.photography_type)
        except ImagenValidationError as exc:
            raise JobRequestError(str(exc), path="tools") from None
        checks = await self._check_photos(spec, paths)
        if all(kind is None for kind in checks.kinds):
            first = itertools.islice(checks.reasons.items(), 20)
            problems = [f"photos.{i}: {reason}" for i, reason in first]
            raise JobRequestError(
                "No photo of this job can be edited: " + "; ".join(problems), path="photos"
            )
        return checks

    async def _check_photos(self, spec: JobSpec, paths: Sequence[str]) -> _Checks:
        """Each file's kind and size, or why it cannot be edited with this spec's profile."""
        expects = await self._expectations(spec)

        def check() -> _Checks:
            seen: dict[int, int] = {}
            checks = _Checks()
            frames: list[int] = []  # HDR: checked again for clashing names
            for i, path in enumerate(paths):
                found = check_photo(path, seen, i)
                if isinstance(found, str):
                    checks.add(i, found)
                elif expects and all(found.kind is not e.kind for e in expects):
                    checks.add(i, f"{_kind_word(found)} file, but the {expects[0].reason}")
                else:
                    checks.add(i, (_kind_word(found), found.size))
                    if spec.tools.hdr_merge:
                        frames.append(i)
            photos = (
                Photo(_photo_path(paths[i]), checks.sizes[i], _image_kind(checks.kinds[i] or ""))
                for i in frames
            )
            for position, reason in folder_clashes(photos):
                checks.refuse(frames[position], reason)
            return checks

        return await asyncio.to_thread(check)

    async def _expectations(self, request: JobSpec) -> list[Expectation]:
        """The kinds of photo the request's profiles edit (none: any kind)."""
        if request.smart:
            return [SMART_EXPECTATION]
        assert request.profile_key is not None
        profiles = await self.profiles()
        main = expectation_for(resolve_profile(profiles, request.profile_key))
        if request.tools.hdr_merge:
            if (main is not None and main.kind is ImageKind.JPEG) or request.jpeg_profile_key:
                raise JobRequestError(
                    "hdr_merge needs a RAW profile and RAW photos (Smart Editing merges JPEG "
                    "brackets)",
                    path="tools.hdr_merge",
                )
            return [HDR_EXPECTATION]
        if request.jpeg_profile_key is None:
            return [main] if main is not None else []
        jpeg = expectation_for(
            resolve_profile(profiles, request.jpeg_profile_key, "jpeg_profile_key")
        )
        if jpeg is None or jpeg.kind is not ImageKind.JPEG:
            raise JobRequestError(
                f"jpeg_profile_key {request.jpeg_profile_key} is not a JPG profile",
                path="jpeg_profile_key",
            )
        if main is not None and main.kind is ImageKind.JPEG:
            raise JobRequestError(
                f"With jpeg_profile_key, profile_key must be a RAW profile ({main.reason})",
                path="profile_key",
            )
        return [e for e in (main, jpeg) if e is not None]

    async def _recheck(self, job_id: str, spec: JobSpec) -> None:
        """Photos refused at creation and retried since (a drive reconnected): check again."""
        rows = await self.store.read(
            lambda db: db.execute(
                "SELECT idx, path FROM photos WHERE job_id = ? AND state = 'queued'"
                " AND kind IS NULL",
                (job_id,),
            ).fetchall()
        )
        if not rows:
            return
        checks = await self._check_photos(spec, [from_db(r["path"]) or "" for r in rows])
        values = [(*checks.columns(i), job_id, r["idx"]) for i, r in enumerate(rows)]

        def record(db: sqlite3.Connection) -> None:
            revision = revise(db, job_id)
            db.executemany(
                "UPDATE photos SET kind = ?, size = ?, state = ?, reason = ?, revision = "
                f"{revision} WHERE job_id = ? AND idx = ?",
                values,
            )

        await self.store.write(record)
        self._changed(job_id)

    async def cancel(self, job_id: str) -> JobView:
        """Cancel the job: here if this engine drives it, else as a book does."""
        live = self._live.get(job_id)
        if live is None or live.task is None or live.task.done():
            return await super().cancel(job_id)
        live.canceled = True
        live.task.cancel()
        await asyncio.wait({live.task})
        return await self.get(job_id)

    def _requeued(self, job_id: str) -> None:
        self.start(job_id)

    def watch(self, job_id: str, sink: Callable[[RunEvent], None]) -> None:
        """Also send the runner's events of ``job_id`` to ``sink`` (the CLI's progress bars)."""
        self._sinks[job_id] = sink

    async def join(self, job_id: str) -> JobView:
        """Wait until the job this engine drives has ended (or stopped)."""
        live = self._live.get(job_id)
        if live is not None and live.task is not None:
            await asyncio.wait({live.task})  # the caller's own cancellation still reaches it
        return await self.get(job_id)

    # ---- driving a job --------------------------------------------------------------------
    def start(self, job_id: str) -> None:
        """Run the job (once: a job already running here is left alone)."""
        live = self._live.setdefault(job_id, Live())
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
            held = row[0] and row[0] != owner and pid_alive(row[0]) and (row[1] or 0) > now
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
        except Exception as exc:  # a bug: the job says so instead of hanging in "running"
            self.log.exception("job %s failed on an internal error", job_id)
            await self._end(job_id, JobState.FAILED, ("internal", f"internal error: {exc!r}"))

    async def _run(self, job_id: str) -> None:
        job = await self.store.read(
            lambda db: db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        )
        request = self.request_of(json.loads(job["request"]))
        out_dir = Path(from_db(job["out_dir"]) or "")
        if job["state"] == "queued":
            await self._job_update(job_id, "state = 'running', started_at = ?", (now_text(),))
        await self._recheck(job_id, request)
        projects = await self._plan_projects(job_id, request)
        if not await self._has_room(job_id, out_dir, await self._room_needed(job_id, request)):
            return
        options, i2i = edit_options(request)
        edit = EditRequest(
            plan=Plan(projects=()),  # opened one by one: see _open_project
            out_dir=out_dir,
            profile_key=request.profile_key,
            jpeg_profile_key=request.jpeg_profile_key,
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
        checkpoint = StoreCheckpoint(self, job_id, merge=request.merge)
        await run_projects(
            self.client,
            edit,
            [functools.partial(self._open_project, job_id, i, checkpoint) for i in projects],
            at_once=PROJECTS_AT_ONCE,
            transfer=self.transfer,
            checkpoint=checkpoint,
            on_event=functools.partial(self._on_event, job_id, checkpoint),
            logger=self.log,
        )
        await self._finish(job_id, request, job["merge_id"])

    async def _has_room(self, job_id: str, out_dir: Path, need: int) -> bool:
        """Refuse to start downloads into a disk that cannot hold them."""
        probe = out_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = (await asyncio.to_thread(shutil.disk_usage, probe)).free
        except OSError:
            return True
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

    async def _plan_projects(self, job_id: str, request: JobSpec) -> list[int]:
        """Put the photos no project holds yet into new projects; the projects with work left.

        Planned from the store's rows (plain tuples, not a Photo each), in one transaction.
        """
        keep_folders = request.tools.hdr_merge

        def plan(db: sqlite3.Connection) -> list[int]:
            indexes = array("q")  # the rows are read as planned, not listed first
            jpeg = bytearray()  # and of each, whether it is a JPEG

            def members() -> Iterable[tuple[ImageKind, Hashable | None, str]]:
                for idx, text, word in db.execute(
                    "SELECT idx, path, kind FROM photos WHERE job_id = ? AND project IS NULL"
                    " AND state = 'queued' AND kind IS NOT NULL ORDER BY idx",
                    (job_id,),
                ):
                    kind = _image_kind(word)
                    indexes.append(idx)
                    jpeg.append(kind is ImageKind.JPEG)
                    path = Path(from_db(text) or "")
                    yield project_member(kind, path, keep_folders_together=keep_folders)

            numbers = assign_projects(members(), cap=PROJECT_PHOTOS)
            if numbers:
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(idx), 0) FROM projects WHERE job_id = ?", (job_id,)
                ).fetchone()
                kinds: dict[int, ImageKind] = {}
                for is_jpeg, number in zip(jpeg, numbers, strict=True):
                    kinds.setdefault(number, ImageKind.JPEG if is_jpeg else ImageKind.RAW)
                used = sorted(kinds)
                several = last > 0 or len(used) > 1
                db.executemany(
                    "INSERT INTO projects (job_id, idx, kind, subdir) VALUES (?, ?, ?, ?)",
                    [
                        (job_id, last + 1 + n, kinds[n].value,
                         project_subdir(last + 1 + n, several=several))
                        for n in used
                    ],
                )  # fmt: skip
                db.executemany(
                    "UPDATE photos SET project = ? WHERE job_id = ? AND idx = ?",
                    ((last + 1 + n, job_id, idx) for idx, n in zip(indexes, numbers, strict=True)),
                )
            return [
                row[0]
                for row in db.execute(
                    "SELECT idx FROM projects pr WHERE job_id = ? AND EXISTS (SELECT 1 FROM photos"
                    " p WHERE p.job_id = pr.job_id AND p.project = pr.idx AND p.kind IS NOT NULL"
                    f" AND p.state NOT IN ({', '.join('?' * len(ENDED_PHOTO))})) ORDER BY idx",
                    (job_id, *ENDED_PHOTO),
                )
            ]

        projects: list[int] = await self.store.write(plan)
        return projects

    async def _room_needed(self, job_id: str, request: JobSpec) -> int:
        """What the outputs of the photos still to edit need on disk."""

        def need(db: sqlite3.Connection) -> int:
            rows = db.execute(
                "SELECT kind, size FROM photos WHERE job_id = ? AND kind IS NOT NULL"
                f" AND state NOT IN ({', '.join('?' * len(ENDED_PHOTO))})",
                (job_id, *ENDED_PHOTO),
            )
            return room_needed(
                ((kind != "RAW", size) for kind, size in rows),
                images=request.smart or request.tools.hdr_merge,
                export=request.export,
            )

        needed: int = await self.store.read(need)
        return needed

    @contextlib.asynccontextmanager
    async def _open_project(
        self, job_id: str, index: int, checkpoint: StoreCheckpoint
    ) -> AsyncIterator[ProjectState | None]:
        """One project's state from the store, tracked by ``checkpoint`` while it runs."""

        def load(db: sqlite3.Connection) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
            project = db.execute(
                "SELECT * FROM projects WHERE job_id = ? AND idx = ?", (job_id, index)
            ).fetchone()
            photos = db.execute(
                f"SELECT {PHOTO_COLUMNS} FROM photos WHERE job_id = ? AND project = ?"
                " AND kind IS NOT NULL ORDER BY idx",
                (job_id, index),
            ).fetchall()
            return project, photos

        project_row, rows = await self.store.read(load)
        members = [
            (row, Photo(path=_photo_path(row["path"]), size=row["size"],
                        kind=_image_kind(row["kind"])))
            for row in rows
            if row["state"] not in ENDED_PHOTO or row["state"] == "failed"
        ]  # fmt: skip
        if not members or all(row["state"] in ENDED_PHOTO for row, _ in members):
            yield None
            return
        project = PlannedProject(
            index=index,
            kind=ImageKind(project_row["kind"]),
            photos=tuple(photo for _, photo in members),
            subdir=project_row["subdir"],
        )
        state = restore(project, project_row, members)
        await checkpoint.track(state, [row["idx"] for row, _ in members])
        try:
            yield state
        finally:
            checkpoint.untrack(state)

    def _on_event(self, job_id: str, checkpoint: StoreCheckpoint, event: RunEvent) -> None:
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
        """Store the bytes sent so far; once stored, what did not move since is forgotten, so
        memory holds the files sending now, not every file of the job."""
        live = self._live[job_id]
        values = list(live.bytes.items())

        def op(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE photos SET bytes_done = ? WHERE job_id = ? AND idx = ?",
                [(done, job_id, i) for i, done in values],
            )
            revise(db, job_id)

        def stored() -> None:
            for index, done in values:
                if live.bytes.get(index) == done:
                    del live.bytes[index]
            self._changed(job_id)

        self.store.write_soon(op, then=stored)

    async def _finish(self, job_id: str, request: JobSpec, merge_id: str | None) -> None:
        """Place exports, merge the sidecars of edited raws, mark photos ready, deliver, and
        end the job."""
        await self.store.write(lambda db: None)  # what the runner queued is durable first
        if request.export and request.export_folder is not None:
            await self._place_exports(job_id, request.export_folder)
        after = -1
        while rows := await self._merging(job_id, after):
            after = rows[-1]["idx"]
            if merge_id is None:
                merge_id = new_merge_id(datetime.now(UTC))
                await self._job_update(job_id, "merge_id = ?", (merge_id,))
            pairs = [
                (Path(out), Path(from_db(row["path"]) or ""), row["idx"])
                for row in rows
                for out in json.loads(row["outputs"])
                if out.lower().endswith(".xmp")
            ]
            results = await self._merge(pairs, merge_id, request.naming)
            await self._ready(job_id, rows, results)
        if request.deliver is not None:
            await self._deliver(job_id, request.deliver, request.profile_key)
        await self._end(job_id, JobState.DONE, None)

    async def _merging(self, job_id: str, after: int) -> list[sqlite3.Row]:
        """The next batch of photos whose sidecars wait to be merged (a batch at a time, so
        20,000 never sit in memory at once; every batch shares the job's merge id)."""
        rows: list[sqlite3.Row] = await self.store.read(
            lambda db: db.execute(
                "SELECT idx, path, outputs FROM photos WHERE job_id = ? AND state = 'merging'"
                " AND idx > ? ORDER BY idx LIMIT ?",
                (job_id, after, PROJECT_PHOTOS),
            ).fetchall()
        )
        return rows

    async def _ready(
        self, job_id: str, rows: Sequence[sqlite3.Row], results: dict[int, dict[str, str | None]]
    ) -> None:
        def ready(db: sqlite3.Connection) -> None:
            revision = revise(db, job_id)
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
        self._changed(job_id)

    async def _merge(
        self, pairs: list[tuple[Path, Path, int]], merge_id: str, naming: str
    ) -> dict[int, dict[str, str | None]]:
        """Merging is seconds of CPU-bound Python: an ``isolate`` engine does it in a process
        of its own."""
        args = (pairs, self.settings.data_dir, merge_id, naming)
        if not self.isolate:
            return await asyncio.to_thread(merge_photos, *args)
        if self._merger is None:
            # spawn: this process has threads, which a fork would copy with their locks held
            self._merger = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=follow_parent
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._merger, merge_photos, *args)

    async def _place_exports(self, job_id: str, folder: str) -> None:
        """Every edited photo's exports, copied beside its original (see ``exports``)."""
        rows = await self.store.read(
            lambda db: db.execute(
                "SELECT idx, path, exports FROM photos WHERE job_id = ?"
                " AND state IN ('merging', 'ready', 'applied') AND exports != '[]'",
                (job_id,),
            ).fetchall()
        )

        def place() -> list[tuple[str, int]]:
            placed = []
            for row in rows:
                photo = Path(from_db(row["path"]) or "")
                try:
                    paths = [
                        str(place_export(Path(e), photo, folder))
                        for e in json.loads(row["exports"])
                    ]
                except OSError as exc:
                    self.log.warning("could not place the export of %s: %s", photo, exc)
                    continue
                placed.append((dumps(paths), row["idx"]))
            return placed

        placed = await asyncio.to_thread(place)

        def record(db: sqlite3.Connection) -> None:
            revision = revise(db, job_id)
            db.executemany(
                "UPDATE photos SET exports = ?, revision = ? WHERE job_id = ? AND idx = ?",
                [(paths, revision, job_id, index) for paths, index in placed],
            )

        await self.store.write(record)
        self._changed(job_id)

    async def deliver(self, job_id: str, spec: DeliverySpec) -> JobView:
        """Deliver an ended job's exports (in the background; photos show each delivery)."""
        view = await self.get(job_id)
        if not view.state.ended:
            raise JobConflict(f"Job {job_id} is {view.state.value}; deliver once it has ended")
        request = self.request_of(view.request)
        if not (request.export or request.smart):
            raise JobRequestError(
                f"Job {job_id} exported no JPEGs (it was created without export)", path="to"
            )
        await self._job_update(job_id, "state = 'running', finished_at = NULL")
        live = self._live.setdefault(job_id, Live())

        async def run() -> None:
            try:
                await self._deliver(job_id, spec, request.profile_key)
            except DeliveryError as exc:
                await self._end(job_id, JobState.FAILED, ("delivery", str(exc)))
                return
            await self._end(job_id, JobState.DONE, None)

        live.task = asyncio.create_task(run(), name=f"deliver {job_id}")
        return await self.get(job_id)

    async def _deliver(self, job_id: str, spec: DeliverySpec, profile: int | None) -> None:
        """Each ready photo's JPEG not yet delivered to ``spec.to``; each result recorded as
        it arrives, so a restarted bridge delivers nothing twice."""
        target = spec.to
        rows = await self.store.read(
            lambda db: db.execute(
                "SELECT p.idx, p.kind, p.outputs, p.exports FROM photos p WHERE p.job_id = ?"
                " AND p.state IN ('ready', 'applied') AND NOT EXISTS (SELECT 1 FROM deliveries d"
                " WHERE d.job_id = p.job_id AND d.photo_idx = p.idx AND d.target = ? AND d.ok)"
                " ORDER BY p.idx",
                (job_id, target),
            ).fetchall()
        )
        items = []
        for row in rows:
            files = json.loads(row["exports"]) or [
                o for o in json.loads(row["outputs"]) if o.lower().endswith((".jpg", ".jpeg"))
            ]
            if files:
                items.append(
                    DeliveryItem(
                        Path(files[0]), job_id=job_id, photo=row["idx"],
                        profile=str(profile) if profile is not None else None,
                    )
                )  # fmt: skip
        if not items:
            return
        by_source = {str(item.path): item.photo for item in items}
        options = ImagekitOptions(
            folder=spec.folder or "/", tags=tuple(spec.tags),
            max_file_mb=self.settings.imagekit_max_file_mb,
            custom_metadata=self.settings.imagekit_custom_metadata,
        )  # fmt: skip

        def recorded(event: DeliveryEvent) -> None:
            result = event.result
            if event.kind != "finished" or result is None:
                return
            index = by_source.get(result.source)
            if index is None:
                return
            view = DeliveryView(
                target=target, ok=result.ok, status=result.status, file_name=result.file_name,
                remote_id=result.remote_id, url=result.url, error=result.error,
                changes=list(result.changes),
            )  # fmt: skip
            now = now_text()

            def op(db: sqlite3.Connection) -> None:
                db.execute(
                    "INSERT OR REPLACE INTO deliveries (job_id, photo_idx, target, ok, result,"
                    " delivered_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (job_id, index, target, int(result.ok), view.model_dump_json(), now),
                )
                db.execute(
                    "UPDATE photos SET revision = ? WHERE job_id = ? AND idx = ?",
                    (revise(db, job_id), job_id, index),
                )

            self.store.write_soon(op, then=lambda: self._changed(job_id))

        emulator_url = await self._delivery_emulator(target)
        client = open_client(
            self.settings, target, emulator_url=emulator_url, options=options, logger=self.log
        )
        async with client:
            await deliver_all(client, items, on_event=recorded)
        await self.store.write(lambda db: None)  # every result recorded

    async def _delivery_emulator(self, target: Target) -> str | None:
        """No key for ``target``: the embedded emulator stands in (started if need be)."""
        if not uses_emulator(self.settings, target):
            return None
        self.log.warning(emulator_notice(target))
        if self.emulator is None:
            config = EmulatorConfig(faults=FaultConfig.from_env(os.environ))
            self.emulator = await self._extra.enter_async_context(running_emulator(config))
        return self.emulator.imgwire_url if target == "imgwire" else self.emulator.imagekit_url
