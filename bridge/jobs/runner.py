"""Drives one edit end to end: projects, uploads, edit, polling, downloads, optional export.

Each project goes through separate steps (create, upload, start, wait,
download, export) that hand each other plain state, so a later job store can
record each step and resume from it. Failures are kept per photo: a file that
could not be uploaded or that Imagen could not edit is reported as such and
the rest of the run carries on. Only a wrong API key stops everything.

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
from typing import Any, Literal

from bridge.imagen import (
    EditOptions,
    I2IEditOptions,
    ImagenAuthError,
    ImagenClient,
    ImagenError,
    PhotographyType,
    Status,
    wait_until_done,
)
from bridge.imagen.models import FileLink, MultipartUpload
from bridge.jobs.events import (
    EventSink,
    FileBytes,
    Phase,
    PhotoFinished,
    PhotoResult,
    PhotoStatus,
    ProjectPhase,
    RunEvent,
    RunResult,
    ServerStatus,
)
from bridge.jobs.plan import Photo, Plan, PlannedProject, collision_key
from bridge.transfer import (
    MIN_PART_SIZE,
    ProgressEvent,
    RetryPolicy,
    Transfer,
    TransferError,
    md5_base64,
    plan_parts,
    safe_file_name,
)

MULTIPART_THRESHOLD = 64 * 2**20
"""Smart Editing files at least this big go up in parts (the official SDK's threshold)."""
LINK_BATCH = 8
"""Files per upload-link request: the next batch is hashed while this one uploads."""
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
    photography_type: PhotographyType | None = None
    options: EditOptions = field(default_factory=EditOptions)
    i2i: I2IEditOptions | None = None
    export: bool = False
    # Off by default, as in Imagen's docs and SDK: a Content-MD5 costs a second read of
    # every file before it goes up (~0.6x the upload time on a fast link); `--md5` opts in.
    send_md5: bool = False
    edit_timeout_s: float = 12 * 3600.0

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


async def run_edit(
    client: ImagenClient,
    request: EditRequest,
    *,
    on_event: EventSink | None = None,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    logger: logging.Logger | None = None,
) -> RunResult:
    """Run every planned project (concurrently) and report each photo's outcome."""
    log = logger or logging.getLogger("bridge.jobs")
    runner = _Runner(client, request, on_event, log, concurrency=concurrency, retry=retry)
    states = [ProjectState(project) for project in request.plan.projects]
    await _all(runner.run_project(state) for state in states)
    return RunResult(
        out_dir=request.out_dir,
        photos=tuple(
            runner.result_of(state, photo) for state in states for photo in state.project.photos
        ),
        projects=len(states),
        extras=tuple(path for state in states for path in state.extras),
    )


@contextlib.asynccontextmanager
async def _task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup whose first escaping error cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def _all(coros: Iterable[Coroutine[Any, Any, None]]) -> None:
    async with _task_group() as group:
        for coro in coros:
            group.create_task(coro)


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


class _Runner:
    """What all projects of one run share: the API client, the request, the event sink."""

    def __init__(
        self,
        client: ImagenClient,
        request: EditRequest,
        sink: EventSink | None,
        log: logging.Logger,
        *,
        concurrency: int,
        retry: RetryPolicy | None,
    ) -> None:
        self.client = client
        self.request = request
        self.log = log
        self._sink = sink
        self.concurrency = concurrency
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        self.run_name = f"imagen-bridge {stamp} {secrets.token_hex(3)}"
        self._retry = retry

    def emit(self, event: RunEvent) -> None:
        if self._sink is not None:
            self._sink(event)

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

    async def run_project(self, state: ProjectState) -> None:
        """One Transfer per project, so progress events name their project unambiguously."""
        index = state.project.index

        def on_bytes(event: ProgressEvent) -> None:
            self.emit(FileBytes(index, event.kind, event.name, event.done, event.total))

        kwargs: dict[str, Any] = {"concurrency": self.concurrency, "logger": self.log}
        if self._retry is not None:
            kwargs["retry"] = self._retry
        async with Transfer(on_progress=on_bytes, **kwargs) as transfer:
            await _ProjectRun(self, state, transfer).run()


class _ProjectRun:
    """The steps of one project, each reading and extending its ProjectState."""

    def __init__(self, runner: _Runner, state: ProjectState, transfer: Transfer) -> None:
        self.runner = runner
        self.client = runner.client
        self.request = runner.request
        self.smart = runner.request.i2i is not None
        self.log = runner.log
        self.state = state
        self.transfer = transfer
        self._multipart_gate = asyncio.Semaphore(1)

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
            self.finish(photo)

    def finish(self, photo: Photo) -> None:
        if photo.path not in self.state.finished:
            self.state.finished.add(photo.path)
            self.runner.emit(PhotoFinished(self.runner.result_of(self.state, photo)))

    # ---- the whole project ----------------------------------------------------------------
    async def run(self) -> None:
        state = self.state
        try:
            self.phase("create")
            await self.create()
            count = len(state.project.photos)
            self.phase("upload", f"{count} file{'s' * (count != 1)}")
            await self.upload()
            if not state.uploaded:
                self.phase("failed", "no file could be uploaded")
                return
            self.phase("edit")
            await self.start_edit()
            status = await self.wait("edit")
            if status.is_failed:
                reason = f"Imagen reported the edit as failed: {status.details or status.status}"
                for photo in state.uploaded:
                    self.fail(photo, reason)
                self.phase("failed", reason)
                return
            state.edit_details = status.details
            self.phase("download")
            await self.download_outputs()
            if self.request.export:
                await self.export()
            for photo in state.uploaded:
                self.finish(photo)
            self.phase("done")
        except (asyncio.CancelledError, ImagenAuthError):
            raise
        except Exception as exc:  # one project failing must not hide the others' results
            self.log.warning("project %d failed: %s", state.project.index, exc)
            for photo in state.project.photos:
                self.fail(photo, str(exc))
            self.phase("failed", str(exc))

    async def create(self) -> None:
        """Create the project under a unique name, so a failed try can be looked up, not redone."""
        name = f"{self.runner.run_name} #{self.state.project.index}"
        create = self.client.i2i_create_project if self.smart else self.client.create_project

        async def call() -> None:
            self.state.uuid = await create(name)

        async def created() -> bool:
            self.state.uuid = await self._find_project(name)
            return self.state.uuid is not None

        await self._send_once("creating the project", call, created)

    async def _find_project(self, name: str) -> str | None:
        if not self.smart:
            try:
                return await self.client.project_uuid(name)
            except ImagenError as exc:
                if exc.status in (400, 404):
                    return None
                raise
        page = await self.client.i2i_list_projects(size=20)
        return next((p.project_uuid for p in page.projects if p.name == name), None)

    async def _send_once(
        self,
        what: str,
        call: Callable[[], Awaitable[None]],
        took_effect: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Send a call Imagen must not act on twice (create, start edit or export).

        The client does not repeat these after a failure that may have reached
        Imagen. Here, before sending again, ``took_effect`` asks Imagen whether
        the failed try worked; a 409 Conflict on a repeat says it did, confirmed
        by ``took_effect`` when there is one (a created project must be found).
        """
        for attempt in range(1, ONCE_ATTEMPTS + 1):
            try:
                await call()
                return
            except ImagenError as exc:
                if attempt > 1 and exc.status == 409:
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

    async def _has_status(self, fetch: Callable[[], Awaitable[Status]]) -> bool:
        """Whether a job exists: Imagen answers its status call with 400 before it starts."""
        try:
            await fetch()
        except ImagenError as exc:
            if exc.status in (400, 404):
                return False
            raise
        return True

    # ---- upload ---------------------------------------------------------------------------
    async def upload(self) -> None:
        """Upload every photo; small files in batches, so hashing and link requests for the
        next batch overlap the transfers of the previous one."""
        photos = self.state.project.photos
        big = [p for p in photos if self.smart and p.size >= MULTIPART_THRESHOLD]
        small = [p for p in photos if p not in big]

        async def one(photo: Photo, send: Callable[[], Awaitable[None]]) -> None:
            try:
                await send()
            except (asyncio.CancelledError, ImagenAuthError):
                raise
            except Exception as exc:
                self.log.warning("upload of %s failed: %s", photo.path, exc)
                self.fail(photo, f"upload failed: {exc}")
            else:
                self.state.uploaded.append(photo)

        async with _task_group() as group:
            for photo in big:
                group.create_task(one(photo, functools.partial(self._put_multipart, photo)))
            for start in range(0, len(small), LINK_BATCH):
                batch = small[start : start + LINK_BATCH]
                md5s = await self._md5s(batch)
                # a file that could not be read for its MD5 has failed already
                batch = [p for p in batch if p.path not in self.state.finished]
                links = await self._upload_links([(p.name, md5s.get(p.path)) for p in batch])
                for photo in batch:
                    send = functools.partial(
                        self._put_single, photo, links.get(photo.name), md5s.get(photo.path)
                    )
                    group.create_task(one(photo, send))
        order = {photo.path: i for i, photo in enumerate(photos)}
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
        fetch = self.client.i2i_upload_links if self.smart else self.client.upload_links
        return {link.file_name: link.url for link in await fetch(self.uuid, files)}

    async def _put_single(self, photo: Photo, url: str | None, md5: str | None) -> None:
        if url is None:
            raise RuntimeError("Imagen returned no upload link for this file")

        async def refresh() -> str:
            fresh = await self._upload_links([(photo.name, md5)])
            if photo.name not in fresh:
                raise RuntimeError("Imagen returned no fresh upload link for this file")
            return fresh[photo.name]

        await self.transfer.put_file(
            photo.path, url, name=photo.name, content_md5=md5, refresh=refresh
        )

    async def _put_multipart(self, photo: Photo) -> None:
        """Upload one big file in parts; complete it, or abort it on any failure."""
        upload = await self._put_parts(photo)
        try:
            await self.client.i2i_multipart_complete(self.uuid, upload.upload_id, photo.name)
        except BaseException:
            await self._abort(upload)
            raise

    async def _put_parts(self, photo: Photo) -> MultipartUpload:
        """Send every part, starting a new upload when the part links expired.

        Imagen cannot re-sign a single part link, so the parts are made few
        enough (at most ``concurrency``) to all start while their links are
        fresh, and big files send their parts one file at a time (the server
        assembles one file while the next one's parts arrive).
        """
        preferred = -(-photo.size // self.runner.concurrency)
        part_size, part_count = plan_parts(photo.size, preferred=max(preferred, MIN_PART_SIZE))
        async with self._multipart_gate:
            for attempt in range(1, MULTIPART_ATTEMPTS + 1):
                upload = await self._multipart_create(photo, part_count)
                try:
                    await self.transfer.put_multipart(
                        photo.path, upload.part_urls(), part_size, name=photo.name
                    )
                    return upload
                except TransferError as exc:
                    await self._abort(upload)
                    if not exc.link_expired or attempt == MULTIPART_ATTEMPTS:
                        raise
                    self.log.warning(
                        "upload of %s: part links expired (attempt %d of %d); "
                        "starting a new multipart upload",
                        photo.name, attempt, MULTIPART_ATTEMPTS,
                    )  # fmt: skip
                except BaseException:
                    await self._abort(upload)
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _multipart_create(self, photo: Photo, part_count: int) -> MultipartUpload:
        created: list[MultipartUpload] = []

        async def call() -> None:
            created.append(
                await self.client.i2i_multipart_create(self.uuid, photo.name, part_count)
            )

        # a failed try that did reach Imagen leaves an empty upload behind: harmless
        await self._send_once(f"starting the upload of {photo.name}", call)
        return created[-1]

    async def _abort(self, upload: MultipartUpload) -> None:
        """Free the stored parts; runs even while the task is being cancelled."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(ABORT_TIMEOUT_S):
                await self.client.i2i_multipart_abort(self.uuid, upload.upload_id, upload.key)

    # ---- edit -----------------------------------------------------------------------------
    async def start_edit(self) -> None:
        request = self.request
        uuid = self.uuid
        if request.i2i is not None:
            i2i = request.i2i
            # an I2I project reads Pending before and after the start: a repeat's 409 tells
            await self._send_once("starting Smart Editing", lambda: self.client.i2i_edit(uuid, i2i))
            return
        profile_key = request.profile_key
        assert profile_key is not None
        await self._send_once(
            "starting the edit",
            lambda: self.client.start_edit(
                uuid,
                profile_key,
                photography_type=request.photography_type,
                options=request.options,
            ),
            lambda: self._has_status(lambda: self.client.edit_status(uuid)),
        )

    async def wait(self, step: Literal["edit", "export"]) -> Status:
        uuid = self.uuid
        fetch: Callable[[], Awaitable[Status]]
        if self.smart:
            fetch = lambda: self.client.i2i_status(uuid)  # noqa: E731
        elif step == "edit":
            fetch = lambda: self.client.edit_status(uuid)  # noqa: E731
        else:
            fetch = lambda: self.client.export_status(uuid)  # noqa: E731
        index = self.state.project.index

        def report(status: Status) -> None:
            self.runner.emit(ServerStatus(index, step, status.status, status.progress))

        return await wait_until_done(fetch, timeout=self.request.edit_timeout_s, on_status=report)

    # ---- download -------------------------------------------------------------------------
    async def download_outputs(self) -> None:
        uuid = self.uuid
        fetch = self.client.i2i_download_links if self.smart else self.client.edit_download_links
        dest = self.request.out_dir / self.state.project.subdir
        await self._download_all(lambda: fetch(uuid), dest, self.state.outputs)
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
        if self.smart or not self.request.options.hdr_merge:
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
        await self._send_once(
            "starting the export",
            lambda: self.client.start_export(uuid),
            lambda: self._has_status(lambda: self.client.export_status(uuid)),
        )
        status = await self.wait("export")
        if status.is_failed:
            for photo in edited:
                self.fail(photo, f"export failed: {status.details or status.status}")
            return
        dest = self.request.out_dir / self.state.project.subdir / EXPORT_SUBDIR
        await self._download_all(
            lambda: self.client.export_download_links(uuid), dest, self.state.exports
        )
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
        self,
        fetch: Callable[[], Awaitable[list[FileLink]]],
        dest: Path,
        into: dict[Path, list[Path]],
    ) -> None:
        """Download every listed file, mapping each to its photo by stem (not by position)."""
        by_stem = {photo.stem_key: photo for photo in self.state.uploaded}
        links = await fetch()
        names: dict[str, FileLink] = {}
        for link in links:
            try:
                name = safe_file_name(link.file_name)
            except ValueError as exc:
                self.log.warning("skipped an output with an unsafe name: %s", exc)
                continue
            if names.setdefault(collision_key(name), link) is not link:
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
                path = await self.transfer.download(link.url, dest, name, refresh=refresh)
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

        await _all(one(link) for link in names.values())
