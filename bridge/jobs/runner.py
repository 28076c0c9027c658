"""Drives one edit end to end: projects, uploads, edit, polling, downloads, optional export.

Each project goes through separate steps (create, upload, start, wait,
download, export) that hand each other plain state (:class:`ProjectState`);
each finished step is reported to a :class:`~bridge.jobs.checkpoint.Checkpoint`,
and a run given the states a previous run reached skips what is done.
Failures are kept per photo: a file that could not be uploaded or that Imagen
could not edit is reported as such and the rest of the run carries on. Only
a wrong API key stops everything.

Cancellation (``asyncio.CancelledError``) cancels in-flight transfers (whose
temp files :class:`~bridge.transfer.Transfer` removes), aborts open multipart
uploads, and leaves only complete files in the output folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from bridge.imagen import (
    EditOptions,
    FileLink,
    I2IEditOptions,
    ImagenAuthError,
    ImagenClient,
    ImagenError,
    MultipartUpload,
    PhotographyType,
    Status,
    wait_until_done,
)
from bridge.jobs.checkpoint import Checkpoint, OpenUpload
from bridge.jobs.events import (
    EventSink,
    FileBytes,
    Phase,
    PhotoFinished,
    PhotoResult,
    PhotoStatus,
    PhotoUploaded,
    ProjectPhase,
    RunEvent,
    RunResult,
    ServerStatus,
)
from bridge.jobs.flows import ClassicFlow, Flow, SmartFlow, Step
from bridge.jobs.plan import ImageKind, Photo, Plan, PlannedProject, collision_key
from bridge.transfer import (
    MIN_PART_SIZE,
    ProgressEvent,
    RetryPolicy,
    Transfer,
    TransferError,
    TransferProcess,
    md5_base64,
    plan_parts,
    safe_file_name,
)

MULTIPART_THRESHOLD = 64 * 2**20
"""Smart Editing files at least this big go up in parts (the official SDK's threshold)."""
LINK_BATCH = 8
"""Files per upload-link request: the next batch is hashed while this one uploads."""
UPLOAD_WAVE = 64
"""Small files uploading at once per project; more wait for a slot (bounded memory)."""
DOWNLOAD_WAVE = 64
"""Outputs downloading at once per project: each holds a temp file open, so 20,000 at once
would run out of file handles (and memory) while waiting for a connection."""
MULTIPART_ATTEMPTS = 8
ONCE_ATTEMPTS = 5
ONCE_RETRY = RetryPolicy(attempts=ONCE_ATTEMPTS, base_delay=0.5, max_delay=10.0)
ABORT_TIMEOUT_S = 15.0
EXPORT_SUBDIR = "exports"
HDR_SUFFIX = "_hdr"  # (case-folded) an HDR merge output is named STEM_HDR.dng


@dataclass(frozen=True)
class EditRequest:
    """Everything one run needs besides the connections. ``i2i`` set means Smart Editing."""

    plan: Plan
    out_dir: Path
    profile_key: int | None = None
    jpeg_profile_key: int | None = None
    """Edits the JPEG projects of a run whose ``profile_key`` edits raws (RAW+JPEG shoots)."""
    photography_type: PhotographyType | None = None
    options: EditOptions = field(default_factory=EditOptions)
    i2i: I2IEditOptions | None = None
    export: bool = False
    # Off by default, as in Imagen's docs and SDK: a Content-MD5 costs a second read of
    # every file before it goes up (~0.6x the upload time on a fast link); `--md5` opts in.
    send_md5: bool = False
    edit_timeout_s: float = 12 * 3600.0
    run_name: str = ""
    """Projects are named ``RUN_NAME #N``, so a failed create can be looked up by name."""

    def __post_init__(self) -> None:
        if self.i2i is None and self.profile_key is None:
            raise ValueError("A profile edit needs a profile_key")
        if self.i2i is not None and self.export:
            raise ValueError("Smart Editing returns JPEGs directly; there is no export step")


@dataclass
class ProjectState:
    """What one project has reached; each step reads and extends it."""

    project: PlannedProject
    uuid: str | None = None
    uploaded: list[Photo] = field(default_factory=list)
    errors: dict[Path, str] = field(default_factory=dict)  # by photo path
    outputs: dict[Path, list[Path]] = field(default_factory=dict)
    exports: dict[Path, list[Path]] = field(default_factory=dict)
    extras: list[Path] = field(default_factory=list)
    edit_details: str | None = None
    finished: set[Path] = field(default_factory=set)
    steps: dict[Step, str] = field(default_factory=dict)  # "requested", "started", "done"
    done_files: set[str] = field(default_factory=set)  # "step/name" already downloaded

    def fresh(self) -> ProjectState:
        """The same project from scratch (Imagen no longer knows it); failures are kept."""
        failed = {p: e for p, e in self.errors.items() if not self.outputs.get(p)}
        return ProjectState(self.project, errors=failed, finished=set(failed))


async def run_edit(
    client: ImagenClient,
    request: EditRequest,
    *,
    on_event: EventSink | None = None,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    logger: logging.Logger | None = None,
    states: Sequence[ProjectState] | None = None,
    checkpoint: Checkpoint | None = None,
    transfer: Transfer | TransferProcess | None = None,
) -> RunResult:
    """Run every planned project (concurrently) and report each photo's outcome.

    ``states`` resumes projects where a previous run left them; ``transfer``
    shares one connection pool (and its limits) with other runs.
    """
    log = logger or logging.getLogger("bridge.jobs")
    runner = _Runner(client, request, on_event, log, checkpoint or Checkpoint())
    states = (
        list(states) if states is not None else [ProjectState(p) for p in request.plan.projects]
    )
    async with contextlib.AsyncExitStack() as stack:
        if transfer is None:
            kwargs: dict[str, Any] = {"concurrency": concurrency, "logger": log}
            if retry is not None:
                kwargs["retry"] = retry
            transfer = await stack.enter_async_context(Transfer(**kwargs))
        await _all(runner.run_project(state, transfer) for state in states)
    return RunResult(
        out_dir=request.out_dir,
        photos=tuple(
            runner.result_of(state, photo) for state in states for photo in state.project.photos
        ),
        projects=len(states),
        extras=tuple(path for state in states for path in state.extras),
    )


ProjectOpener = Callable[[], contextlib.AbstractAsyncContextManager[ProjectState | None]]
"""Loads one project's state when it may start (None: nothing left to do) and lets it go
when the project ends."""


async def run_projects(
    client: ImagenClient,
    request: EditRequest,
    projects: Iterable[ProjectOpener],
    *,
    at_once: int,
    transfer: Transfer | TransferProcess,
    checkpoint: Checkpoint,
    on_event: EventSink | None = None,
    logger: logging.Logger | None = None,
) -> None:
    """Run the projects ``projects`` open, at most ``at_once`` together.

    Each is opened only when it can start, so a job holds ``at_once`` projects' photos in
    memory however many it has; outcomes go to ``checkpoint`` and ``on_event``.
    """
    runner = _Runner(client, request, on_event, logger or logging.getLogger("bridge.jobs"),
                     checkpoint)  # fmt: skip

    async def one(opener: ProjectOpener) -> None:
        async with opener() as state:
            if state is not None:
                await runner.run_project(state, transfer)

    await _all((one(opener) for opener in projects), limit=at_once)


@contextlib.asynccontextmanager
async def _task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup whose first escaping error cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def _all(coros: Iterable[Coroutine[Any, Any, None]], limit: int | None = None) -> None:
    """Run ``coros`` together, at most ``limit`` at a time (each is made only when it can
    start); the first error cancels the rest."""
    if limit is None:
        async with _task_group() as group:
            for coro in coros:
                group.create_task(coro)
        return
    gate = asyncio.Semaphore(limit)

    async def gated(coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        finally:
            gate.release()

    pending = iter(coros)
    async with _task_group() as group:
        while True:
            await gate.acquire()  # before the next is made: a cancel here leaves none unawaited
            try:
                coro = next(pending)
            except StopIteration:
                break
            group.create_task(gated(coro))


class _LinkList:
    """A project's download links, fetched anew at most once per wave of expiries.

    Links are signed together, so they expire together: without this, N downloads would
    each fetch the whole list of N links again.
    """

    def __init__(self, fetch: Callable[[], Awaitable[list[FileLink]]], links: Sequence[FileLink]):
        self._fetch = fetch
        self._urls = {link.file_name: link.url for link in links}
        self._lock = asyncio.Lock()

    async def fresh_url(self, file_name: str, *, expired: str) -> str:
        """A URL for ``file_name`` newer than ``expired`` (fetched only if nobody has yet)."""
        async with self._lock:
            if self._urls.get(file_name) == expired:
                self._urls = {item.file_name: item.url for item in await self._fetch()}
        url = self._urls.get(file_name)
        if url is None:
            raise RuntimeError(f"Imagen no longer lists {file_name}")
        return url


class _ProjectGone(Exception):
    """Imagen no longer knows a project a previous run created (deleted, or a new emulator)."""


class _Runner:
    """What all projects of one run share: the API client, the request, the event sink."""

    def __init__(
        self,
        client: ImagenClient,
        request: EditRequest,
        sink: EventSink | None,
        log: logging.Logger,
        checkpoint: Checkpoint,
    ) -> None:
        self.client = client
        self.request = request
        self.log = log
        self._sink = sink
        self.checkpoint = checkpoint
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        self.run_name = request.run_name or f"imagen-bridge {stamp} {secrets.token_hex(3)}"

    def emit(self, event: RunEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def flow_for(self, project: PlannedProject) -> Flow:
        """Smart Editing, or a profile edit with the profile for the project's kind."""
        request = self.request
        if request.i2i is not None:
            return SmartFlow(self.client, request.i2i)
        key = request.profile_key
        if project.kind is ImageKind.JPEG and request.jpeg_profile_key is not None:
            key = request.jpeg_profile_key
        assert key is not None
        return ClassicFlow(self.client, key, request.photography_type, request.options)

    def result_of(self, state: ProjectState, photo: Photo) -> PhotoResult:
        index = state.project.index
        error = state.errors.get(photo.path)
        if photo.path not in state.finished:
            return PhotoResult(photo, index, PhotoStatus.CANCELLED, error="cancelled")
        if error is not None:
            return PhotoResult(photo, index, PhotoStatus.FAILED, error=error)
        return PhotoResult(
            photo,
            index,
            PhotoStatus.EDITED,
            outputs=tuple(state.outputs.get(photo.path, ())),
            exports=tuple(state.exports.get(photo.path, ())),
        )

    async def run_project(self, state: ProjectState, transfer: Transfer | TransferProcess) -> None:
        """Progress events name their project, so same-named files never mix."""
        index = state.project.index

        def on_bytes(event: ProgressEvent) -> None:
            self.emit(FileBytes(index, event.kind, event.name, event.done, event.total))

        try:
            await _ProjectRun(self, state, transfer, on_bytes).run()
        except _ProjectGone:
            self.log.warning(
                "Imagen no longer knows project %d (%s); starting it again", index, state.uuid
            )
            fresh = state.fresh()
            await self.checkpoint.step(index, "edit", "reset")
            vars(state).update(vars(fresh))
            await _ProjectRun(self, state, transfer, on_bytes).run()


class _Landing:
    """Lets one single-PUT file of a project at a time land, its last bytes marked first.

    Imagen tells only how many files a project holds. With at most one file between
    "its last byte may have gone" and "its answer is recorded", a run stopped at any
    moment leaves at most one file whose fate is open, and the count settles it
    (``_ProjectRun._landed_meanwhile``): no finished file goes up twice. The price is
    one file's last chunk and answer at a time per project, its other bytes not.
    """

    def __init__(self, lock: asyncio.Lock, checkpoint: Checkpoint, photo: Photo) -> None:
        self.lock = lock
        self.checkpoint = checkpoint
        self.photo = photo
        # once a try (or a stopped run's) may have landed, only a stored answer clears the
        # mark: a later try's refusal says nothing of the earlier one
        self.open = photo.path in checkpoint.in_flight()

    async def landing(self) -> None:
        await self.lock.acquire()
        try:
            await self.checkpoint.landing(self.photo)
        except BaseException:  # canceled mid-write: the bytes never went, the mark may
            if not self.open:  # still be made, so undo it (unless an earlier try is open)
                self.checkpoint.not_landed(self.photo)
            self.lock.release()
            raise

    async def landed(self, stored: bool | None) -> None:
        try:
            if stored:
                await self.checkpoint.uploaded(self.photo)
            elif stored is None:
                self.open = True
            elif not self.open:
                self.checkpoint.not_landed(self.photo)
        finally:
            self.lock.release()


class _ProjectRun:
    """The steps of one project, each reading and extending its ProjectState."""

    def __init__(
        self,
        runner: _Runner,
        state: ProjectState,
        transfer: Transfer | TransferProcess,
        on_bytes: Callable[[ProgressEvent], None],
    ) -> None:
        self.runner = runner
        self.client = runner.client
        self.flow = runner.flow_for(state.project)
        self.request = runner.request
        self.checkpoint = runner.checkpoint
        self.log = runner.log
        self.state = state
        self.transfer = transfer
        self.on_bytes = on_bytes
        self.landing = asyncio.Lock()  # see _Landing

    @property
    def uuid(self) -> str:
        assert self.state.uuid is not None, "the project is created first"
        return self.state.uuid

    # ---- bookkeeping --------------------------------------------------------------------
    def phase(self, phase: Phase, detail: str | None = None) -> None:
        self.runner.emit(ProjectPhase(self.state.project.index, phase, detail))

    def fail(self, photo: Photo, message: str) -> None:
        if photo.path not in self.state.finished:
            self.state.errors.setdefault(photo.path, message)
            self.checkpoint.failed(photo, self.state.errors[photo.path])
            self.finish(photo)

    def finish(self, photo: Photo) -> None:
        if photo.path not in self.state.finished:
            self.state.finished.add(photo.path)
            self.runner.emit(PhotoFinished(self.runner.result_of(self.state, photo)))

    # ---- the whole project ----------------------------------------------------------------
    async def run(self) -> None:
        state = self.state
        resumed = state.uuid is not None
        try:
            if state.uuid is None:
                self.phase("create")
                await self.create()
            uploaded = {photo.path for photo in state.uploaded}
            pending = [
                p
                for p in state.project.photos
                if p.path not in uploaded and p.path not in state.finished
            ]
            if pending and resumed:
                pending = await self._landed_meanwhile(pending)
            if pending:
                count = len(pending)
                self.phase("upload", f"{count} file{'s' * (count != 1)}")
                await self.upload(pending)
            if not state.uploaded:
                self.phase("failed", "no file could be uploaded")
                return
            self.phase("edit")
            status = await self.run_step("edit")
            if status is not None and status.is_failed:
                reason = f"Imagen reported the edit as failed: {status.details or status.status}"
                for photo in state.uploaded:
                    self.fail(photo, reason)
                self.phase("failed", reason)
                return
            self.phase("download")
            await self.download_outputs()
            if self.request.export:
                await self.export()
            for photo in state.uploaded:
                self.finish(photo)
            self.phase("done")
        except (asyncio.CancelledError, ImagenAuthError, _ProjectGone):
            raise
        except ImagenError as exc:
            if resumed and exc.status == 404:
                raise _ProjectGone from exc  # the project a previous run made is gone
            self._failed_project(exc)
        except Exception as exc:
            self._failed_project(exc)

    def _failed_project(self, exc: Exception) -> None:
        """One project failing must not hide the others' results: its photos fail."""
        self.log.warning("project %d failed: %s", self.state.project.index, exc)
        for photo in self.state.project.photos:
            self.fail(photo, str(exc))
        self.phase("failed", str(exc))

    async def create(self) -> None:
        """Create the project under a unique name, so a failed try can be looked up, not redone."""
        name = f"{self.runner.run_name} #{self.state.project.index}"

        async def call() -> None:
            self.state.uuid = await self.flow.create(name)

        async def created() -> bool:
            self.state.uuid = await self.flow.find(name)
            return self.state.uuid is not None

        # a previous run may have created it and died before recording the uuid
        if not await created():
            await self._send_once("creating the project", call, created)
        await self.checkpoint.created(self.state.project.index, self.uuid)

    async def _send_once(
        self,
        what: str,
        call: Callable[[], Awaitable[None]],
        took_effect: Callable[[], Awaitable[bool]] | None = None,
        *,
        repeat: bool = False,
    ) -> None:
        """Send a call Imagen must not act on twice (create, start edit or export).

        The client does not repeat these after a failure that may have reached
        Imagen. Here, before sending again, ``took_effect`` asks Imagen whether
        the failed try worked; a 409 Conflict on a repeat says it did, confirmed
        by ``took_effect`` when there is one (a created project must be found).
        ``repeat`` says the first try may itself repeat one of an earlier run.
        """
        for attempt in range(1, ONCE_ATTEMPTS + 1):
            try:
                await call()
                return
            except ImagenError as exc:
                if (attempt > 1 or repeat) and exc.status == 409:
                    if took_effect is None or await took_effect():
                        return
                    raise
                if not exc.retryable or attempt == ONCE_ATTEMPTS:
                    raise
                delay = ONCE_RETRY.delay(attempt)
                self.log.warning(
                    "%s failed (attempt %d of %d: %s); checking Imagen and trying again in %.1f s",
                    what, attempt, ONCE_ATTEMPTS, exc.message, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
                if took_effect is not None and await took_effect():
                    return

    # ---- upload ---------------------------------------------------------------------------
    async def _landed_meanwhile(self, pending: list[Photo]) -> list[Photo]:
        """Files a stopped run was sending may have landed without a record of the answer.

        Imagen only counts the files it holds. Single files land one at a time
        (``_Landing``), so a stop leaves at most one of them with an open fate; a
        multipart upload whose complete was sent can be asked again (a 404 then means it
        took effect). When the count covers every file in doubt, they all landed; when it
        is zero, none did. Otherwise the multipart ones are settled by completing them
        again and the count is taken anew for the rest. What stays unclear (tries that
        broke off after their last byte, then failed) is sent again, which is safe.
        """
        in_flight = self.checkpoint.in_flight()
        if not any(p.path in in_flight for p in pending):
            return pending
        waiting = {p.path for p in pending}
        maybe = [p for p in self.state.project.photos if p.path in in_flight]
        landed = await self._held_unrecorded()
        if landed is not None and 0 < landed != len(maybe):
            for photo in [p for p in maybe if p.path in waiting]:
                left = self.checkpoint.open_upload(photo)
                if left is not None and await self._settle(photo, left.upload):
                    maybe.remove(photo)
                    waiting.discard(photo.path)
            landed = await self._held_unrecorded()
        if landed != len(maybe):
            if landed:
                self.log.warning(
                    "Imagen holds %d file(s) of %d a stopped run may have sent, and which "
                    "cannot be told: sending them again", landed, len(maybe),
                )  # fmt: skip
            else:  # none landed: their marks go, or a later stop would count them in doubt
                for photo in maybe:
                    self.checkpoint.not_landed(photo)
            return [p for p in pending if p.path in waiting]
        flying = [p for p in maybe if p.path in waiting]
        for photo in flying:
            self.state.uploaded.append(photo)
            await self.checkpoint.uploaded(photo)
            if self.checkpoint.open_upload(photo) is not None:
                await self.checkpoint.upload_closed(photo)
            waiting.discard(photo.path)
        if flying:
            self.log.warning(
                "%d file(s) a stopped run was sending had reached Imagen; not sent again",
                len(flying),
            )
        return [p for p in pending if p.path in waiting]

    async def _held_unrecorded(self) -> int | None:
        """How many files Imagen holds beyond those recorded as uploaded (None: unknown)."""
        held = await self.flow.images(self.uuid)
        return None if held is None else held - len(self.state.uploaded)

    async def _settle(self, photo: Photo, upload: MultipartUpload) -> bool:
        """Complete again an upload a stopped run had sent the complete of; whether it is
        now known to be on Imagen (else it was aborted and goes up again)."""
        try:
            await self._complete(photo, upload)
        except (asyncio.CancelledError, ImagenAuthError):
            raise
        except Exception as exc:
            self.log.warning("upload of %s could not be completed: %s", photo.path, exc)
            return False
        self.state.uploaded.append(photo)
        return True

    async def upload(self, photos: Sequence[Photo]) -> None:
        """Upload ``photos``; small files in batches, so hashing and link requests for the
        next batch overlap the transfers of the previous one."""
        big = [p for p in photos if self.flow.multipart and p.size >= MULTIPART_THRESHOLD]
        small = [p for p in photos if p not in big]
        wave = asyncio.Semaphore(UPLOAD_WAVE)

        async def one(photo: Photo, send: Callable[[], Awaitable[None]]) -> None:
            try:
                await send()
            except (asyncio.CancelledError, ImagenAuthError):
                raise
            except Exception as exc:
                self.log.warning("upload of %s failed: %s", photo.path, exc)
                self.fail(photo, f"upload failed: {exc}")
            else:  # recorded durably by _Landing or _put_multipart
                self.state.uploaded.append(photo)
                self.runner.emit(PhotoUploaded(self.state.project.index, photo.name, photo.size))
            finally:
                wave.release()

        async with _task_group() as group:
            for photo in big:
                await wave.acquire()
                group.create_task(one(photo, functools.partial(self._put_multipart, photo)))
            for start in range(0, len(small), LINK_BATCH):
                batch = small[start : start + LINK_BATCH]
                md5s = await self._md5s(batch)
                # a file that could not be read for its MD5 has failed already
                batch = [p for p in batch if p.path not in self.state.finished]
                links = await self._upload_links([(p.name, md5s.get(p.path)) for p in batch])
                for photo in batch:
                    await wave.acquire()
                    send = functools.partial(
                        self._put_single, photo, links.get(photo.name), md5s.get(photo.path)
                    )
                    group.create_task(one(photo, send))
        order = {photo.path: i for i, photo in enumerate(self.state.project.photos)}
        self.state.uploaded.sort(key=lambda p: order[p.path])

    async def _md5s(self, photos: Sequence[Photo]) -> dict[Path, str]:
        """Content-MD5 lets the store verify every byte; hashed two files at a time.

        A file that cannot be read fails on its own, as it would when uploaded.
        """
        digests: dict[Path, str] = {}
        if not self.request.send_md5:
            return digests
        gate = asyncio.Semaphore(2)

        async def digest(photo: Photo) -> None:
            async with gate:
                try:
                    digests[photo.path] = await asyncio.to_thread(md5_base64, photo.path)
                except OSError as exc:
                    self.log.warning("cannot read %s: %s", photo.path, exc)
                    self.fail(photo, f"upload failed: cannot read the file ({exc.strerror or exc})")

        await asyncio.gather(*(digest(p) for p in photos))
        return digests

    async def _upload_links(self, files: Sequence[tuple[str, str | None]]) -> dict[str, str]:
        if not files:
            return {}
        return {link.file_name: link.url for link in await self.flow.upload_links(self.uuid, files)}

    async def _put_single(self, photo: Photo, url: str | None, md5: str | None) -> None:
        if url is None:
            raise RuntimeError("Imagen returned no upload link for this file")

        async def refresh() -> str:
            fresh = await self._upload_links([(photo.name, md5)])
            if photo.name not in fresh:
                raise RuntimeError("Imagen returned no fresh upload link for this file")
            return fresh[photo.name]

        await self.transfer.put_file(
            photo.path, url, name=photo.name, content_md5=md5, refresh=refresh,
            on_progress=self.on_bytes, landing=_Landing(self.landing, self.checkpoint, photo),
        )  # fmt: skip

    async def _put_multipart(self, photo: Photo) -> None:
        """Upload one big file in parts; complete it, or abort it on any failure."""
        await self._complete(photo, await self._put_parts(photo))

    async def _complete(self, photo: Photo, upload: MultipartUpload) -> None:
        # durable before the complete: a run stopped after it completes again, never re-sends
        await self.checkpoint.upload_sent(photo, len(upload.parts))
        try:
            await self.client.i2i_multipart_complete(self.uuid, upload.upload_id, photo.name)
        except ImagenError as exc:
            if exc.status != 404:
                await self._abort(photo, upload)
                if exc.status is not None and 400 <= exc.status < 500:
                    self.checkpoint.not_landed(photo)  # refused; anything else may have worked
                raise
            # Imagen no longer knows this upload, and nothing here aborted it: an earlier
            # complete (a retry whose first answer was lost, or a run that stopped right
            # after it) took effect. A missing file would show as a missing output.
            self.log.warning(
                "upload of %s: Imagen says the upload is already closed (%s); "
                "counting it as completed by an earlier try",
                photo.name, exc.message,
            )  # fmt: skip
        except asyncio.CancelledError:
            if not self.checkpoint.keeps_open_uploads():
                await self._abort(photo, upload)
            raise  # a stop: the resumed run completes it (again: a 404 then means done)
        except BaseException:
            await self._abort(photo, upload)
            raise
        # recorded before the upload is forgotten: a stop between them leaves it uploaded
        await self.checkpoint.uploaded(photo)
        await self.checkpoint.upload_closed(photo)

    async def _put_parts(self, photo: Photo) -> MultipartUpload:
        """Send every part, starting a new upload when the part links expired.

        Imagen cannot re-sign a single part link, so the parts are made few
        enough (one per connection) to start while their links are fresh; when
        they expire, the upload starts over. An upload a previous run left open
        continues with the parts it lacks.
        """
        left = self.checkpoint.open_upload(photo)
        for attempt in range(1, MULTIPART_ATTEMPTS + 1):
            if left is None:
                left = await self._multipart_create(photo)
            upload, part_size = left.upload, left.part_size
            try:
                await self.transfer.put_multipart(
                    photo.path, upload.part_urls(), part_size, name=photo.name,
                    done_parts=left.done_parts,
                    on_part_done=functools.partial(self.checkpoint.part_done, photo),
                    on_progress=self.on_bytes,
                )  # fmt: skip
                return upload
            except TransferError as exc:
                await self._abort(photo, upload)
                left = None
                if not exc.link_expired or attempt == MULTIPART_ATTEMPTS:
                    raise
                self.log.warning(
                    "upload of %s: part links expired (attempt %d of %d); "
                    "starting a new multipart upload",
                    photo.name, attempt, MULTIPART_ATTEMPTS,
                )  # fmt: skip
            except asyncio.CancelledError:
                if not self.checkpoint.keeps_open_uploads():
                    await self._abort(photo, upload)
                raise
            except BaseException:
                await self._abort(photo, upload)
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _multipart_create(self, photo: Photo) -> OpenUpload:
        # as many parts as connections: they all start while their links are fresh
        parts = max(1, self.transfer.concurrency)
        preferred = max(-(-photo.size // parts), MIN_PART_SIZE)
        part_size, part_count = plan_parts(photo.size, preferred=preferred)
        created: list[MultipartUpload] = []

        async def call() -> None:
            created.append(
                await self.client.i2i_multipart_create(self.uuid, photo.name, part_count)
            )

        # a failed try that did reach Imagen leaves an empty upload behind: harmless
        await self._send_once(f"starting the upload of {photo.name}", call)
        opened = OpenUpload(created[-1], part_size, frozenset())
        await self.checkpoint.upload_opened(photo, opened)
        return opened

    async def _abort(self, photo: Photo, upload: MultipartUpload) -> None:
        """Free the stored parts; runs even while the task is being cancelled.

        The upload is forgotten first, so no resumed run ever completes an aborted upload.
        """
        with contextlib.suppress(Exception):
            async with asyncio.timeout(ABORT_TIMEOUT_S):
                await self.checkpoint.upload_closed(photo)
                await self.client.i2i_multipart_abort(self.uuid, upload.upload_id, upload.key)

    # ---- edit and export ----------------------------------------------------------------
    async def run_step(self, step: Step) -> Status | None:
        """Start ``step`` unless a previous run did, then wait for it (None: done before)."""
        index = self.state.project.index
        stage = self.state.steps.get(step)
        if stage == "done":
            return None
        uuid = self.uuid
        started: Callable[[], Awaitable[bool]] | None = None
        if step == "export" or self.request.i2i is None:

            async def started_now() -> bool:
                return bool(await self.flow.started(uuid, step))

            started = started_now
        if stage is None or (stage == "requested" and not (started and await started())):
            await self.checkpoint.step(index, step, "requested")
            self.state.steps[step] = "requested"
            await self._send_once(
                f"starting the {step}",
                lambda: self.flow.start(uuid, step),
                started,
                repeat=stage == "requested",
            )
        await self.checkpoint.step(index, step, "started")
        self.state.steps[step] = "started"
        status = await self.wait(step)
        if step == "edit":
            self.state.edit_details = status.details
        await self.checkpoint.step(index, step, "done", status.details)
        self.state.steps[step] = "done"
        return status

    async def wait(self, step: Step) -> Status:
        fetch = self.flow.status(self.uuid, step)
        index = self.state.project.index

        def report(status: Status) -> None:
            self.runner.emit(ServerStatus(index, step, status.status, status.progress))

        try:
            return await wait_until_done(
                fetch, timeout=self.request.edit_timeout_s, on_status=report
            )
        except ImagenError as exc:
            if exc.status == 404:
                raise _ProjectGone from exc
            raise

    # ---- download -------------------------------------------------------------------------
    async def download_outputs(self) -> None:
        uuid = self.uuid
        dest = self.request.out_dir / self.state.project.subdir
        await self._download_all("edit", lambda: self.flow.download_links(uuid, "edit"), dest)
        details = self.state.edit_details or ""
        self._attribute_brackets(self.state.outputs, details)
        suffix = f" ({details})" if details else ""
        for photo in self.state.uploaded:
            if photo.path not in self.state.outputs:
                self.fail(photo, f"Imagen returned no output for this photo{suffix}")

    def _attribute_brackets(self, into: dict[Path, list[Path]], details: str) -> None:
        """HDR merge returns one DNG per bracket, named after its first frame (in name order).

        The other frames of that bracket share its output; a frame the status
        details name as failed keeps no output and is reported.
        """
        if self.request.i2i is not None or not self.request.options.hdr_merge:
            return
        leader: list[Path] | None = None
        for photo in sorted(self.state.uploaded, key=lambda p: p.name):
            own = into.get(photo.path)
            if own is not None:
                leader = own
            elif leader is not None and photo.name not in details:
                into[photo.path] = list(leader)

    async def export(self) -> None:
        uuid = self.uuid
        edited = [p for p in self.state.uploaded if p.path not in self.state.errors]
        if not edited:
            return
        self.phase("export")
        status = await self.run_step("export")
        if status is not None and status.is_failed:
            for photo in edited:
                self.fail(photo, f"export failed: {status.details or status.status}")
            return
        dest = self.request.out_dir / self.state.project.subdir / EXPORT_SUBDIR
        await self._download_all("export", lambda: self.flow.download_links(uuid, "export"), dest)
        self._attribute_brackets(self.state.exports, self.state.edit_details or "")
        for photo in edited:
            if photo.path not in self.state.exports:
                self.fail(photo, "Imagen exported no JPEG for this photo")

    @staticmethod
    def _photo_for(name: str, by_stem: dict[str, Photo]) -> Photo | None:
        """The photo an output belongs to: same stem, or ``STEM_HDR`` for a merged bracket."""
        key = collision_key(PurePosixPath(name).stem)
        if key in by_stem:
            return by_stem[key]
        if key.endswith(HDR_SUFFIX):
            return by_stem.get(key.removesuffix(HDR_SUFFIX))
        return None

    async def _download_all(
        self, step: Step, fetch: Callable[[], Awaitable[list[FileLink]]], dest: Path
    ) -> None:
        """Download every listed file not yet downloaded, mapped to its photo by stem."""
        into = self.state.exports if step == "export" else self.state.outputs
        by_stem = {photo.stem_key: photo for photo in self.state.uploaded}
        links = await fetch()
        names: dict[str, FileLink] = {}
        for link in links:
            try:
                name = safe_file_name(link.file_name)
            except ValueError as exc:
                self.log.warning("skipped an output with an unsafe name: %s", exc)
                continue
            key = collision_key(name)
            if f"{step}/{key}" in self.state.done_files:
                continue  # a previous run published it
            if names.setdefault(key, link) is not link:
                self.log.warning("skipped a second output named %r", name)

        shared = _LinkList(fetch, links)

        async def one(link: FileLink) -> None:
            name = safe_file_name(link.file_name)
            photo = self._photo_for(name, by_stem)
            current = link.url

            async def refresh() -> str:
                nonlocal current
                current = await shared.fresh_url(link.file_name, expired=current)
                return current

            try:
                path = await self.transfer.download(
                    link.url, dest, name, refresh=refresh, on_progress=self.on_bytes
                )
            except (asyncio.CancelledError, ImagenAuthError):
                raise
            except Exception as exc:
                self.log.warning("download of %s failed: %s", name, exc)
                if photo is not None:
                    self.fail(photo, f"download of {name} failed: {exc}")
                return
            if photo is None:
                self.state.extras.append(path)
            else:
                into.setdefault(photo.path, []).append(path)
            self.state.done_files.add(f"{step}/{collision_key(name)}")
            await self.checkpoint.downloaded(self.state.project.index, step, name, photo, path)

        await _all((one(link) for link in names.values()), DOWNLOAD_WAVE)
