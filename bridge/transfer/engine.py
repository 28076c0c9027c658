"""The transfer engine: bytes between local files and presigned storage URLs.

One pooled httpx client with no default headers (the API key never reaches
storage), one semaphore bounding sockets across every file and part, retries
with backoff per request, fresh links on expiry, and downloads that are
either complete and in place or not there at all.
"""

from __future__ import annotations

import asyncio
import filecmp
import functools
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol, TypeVar

import httpx

from bridge.closing import AsyncClosing
from bridge.durable import fsync_dir, fsync_file, link_new, make_dirs, open_new
from bridge.transfer.errors import TransferError
from bridge.transfer.files import (
    CHUNK_SIZE,
    MIN_PART_SIZE,
    SourceChangedError,
    part_count,
    read_range,
)
from bridge.transfer.names import contained_path, safe_file_name
from bridge.transfer.progress import ByteCounter, ProgressCallback
from bridge.transfer.retry import (
    RETRYABLE_ERRORS,
    RETRYABLE_STATUSES,
    RetryPolicy,
    parse_retry_after,
    quiet_httpx,
    redact_urls,
)
from bridge.transfer.s3 import MAX_ERROR_BODY, parse_refusal

LinkProvider = Callable[[], Awaitable[str]]


class Landing(Protocol):
    """Told when a file being uploaded may reach the store, and whether it did.

    A store keeps an object only once its last byte is in, so a caller that must
    know, after a crash, which files landed can record each one here: its fate is
    open only between ``landing`` and ``landed`` (see ``bridge.jobs.runner``).
    """

    async def landing(self) -> None:
        """The last bytes of this try are about to go: from now on the file may be stored."""

    async def landed(self, stored: bool | None) -> None:
        """How the try ended: stored, refused by the store, or ``None`` for not known."""


DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=60.0)

_T = TypeVar("_T")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class _Failure(Exception):
    """One try failed; says whether another try, or a fresh link, may help."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = True,
        link_expired: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code
        self.retryable = retryable
        self.link_expired = link_expired
        self.retry_after = retry_after


class Transfer(AsyncClosing):
    """Moves files to and from presigned URLs. Use as ``async with Transfer() as t:``.

    ``concurrency`` bounds open storage connections across all concurrent
    calls together: N files of M parts never hold more than ``concurrency``
    sockets. Progress events go to ``on_progress``, or to a call's own
    ``on_progress`` (so one Transfer can serve many jobs); retries are logged as
    warnings on ``logger`` with the file name, the try and the reason, never
    a full presigned URL.
    """

    def __init__(
        self,
        *,
        concurrency: int = 8,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as default
        on_progress: ProgressCallback | None = None,
        logger: logging.Logger | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._retry = retry
        self._on_progress = on_progress
        self._log = logger or logging.getLogger(__name__)
        self._chunk_size = chunk_size
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        quiet_httpx()
        # No default headers: storage links carry their signature in the URL, and the
        # API key must never travel to a storage host.
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- uploads -------------------------------------------------------------------

    async def put_file(
        self,
        path: Path,
        url: str,
        *,
        name: str,
        content_md5: str | None = None,
        refresh: LinkProvider | None = None,
        on_progress: ProgressCallback | None = None,
        landing: Landing | None = None,
    ) -> None:
        """Stream ``path`` to a presigned PUT ``url``.

        Sends exactly ``Content-Length`` bytes (never chunked), the empty
        ``Content-Type`` the links are signed with, and ``Content-MD5`` when an
        MD5 was sent with the link request. ``refresh`` fetches a new link when
        this one has expired; its own errors propagate unchanged. ``landing`` hears
        of every try from just before its last bytes go until its answer is in.
        """
        size = await _size_of(path, name)
        progress = ByteCounter(on_progress or self._on_progress, "upload", name, size)
        progress.start()
        await self._put_range(
            path, 0, size, url, name=name, label=name, content_md5=content_md5,
            refresh=refresh, progress=progress, slot=0, file_size=size, landing=landing,
        )  # fmt: skip
        progress.finish()

    async def put_multipart(
        self,
        path: Path,
        part_urls: Mapping[int, str],
        part_size: int,
        *,
        name: str,
        done_parts: Collection[int] = (),
        on_part_done: Callable[[int], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Upload the parts of ``path`` (1-based, ``part_size`` bytes each) in parallel.

        Each part is retried on its own from its offset. ``done_parts`` are
        skipped (a resumed upload); ``on_part_done(n)`` is called as each part
        lands, so a caller can persist it. On failure the TransferError says
        whether trying the same links later can help (``retryable``) or the
        links expired (``link_expired``: part links are not refreshed here, the
        caller starts a new upload); when neither, the caller should abort.
        """
        size = await _size_of(path, name)
        count = part_count(size, part_size)
        if count > 1 and part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes for {count} parts")
        done = {n for n in done_parts if 1 <= n <= count}
        pending = [n for n in range(1, count + 1) if n not in done]
        _check_part_urls(part_urls, count, pending, name)
        progress = ByteCounter(on_progress or self._on_progress, "upload", name, size)
        for number in done:
            progress.set(number, _part_span(number, part_size, size)[1])
        progress.start()

        async def upload_part(number: int) -> None:
            offset, length = _part_span(number, part_size, size)
            await self._put_range(
                path, offset, length, part_urls[number], name=name,
                label=f"{name} part {number}/{count}", content_md5=None, refresh=None,
                progress=progress, slot=number, file_size=size,
            )  # fmt: skip
            if on_part_done is not None:
                on_part_done(number)

        await _first_error_of(upload_part(number) for number in pending)
        progress.finish()

    async def _put_range(
        self,
        path: Path,
        offset: int,
        length: int,
        url: str,
        *,
        name: str,
        label: str,
        content_md5: str | None,
        refresh: LinkProvider | None,
        progress: ByteCounter,
        slot: int,
        file_size: int,
        landing: Landing | None = None,
    ) -> None:
        headers = {"Content-Length": str(length), "Content-Type": ""}
        if content_md5:
            headers["Content-MD5"] = content_md5

        async def attempt(link: str) -> None:
            progress.set(slot, 0)
            began = False
            stored: bool | None = None

            async def last_bytes() -> None:
                nonlocal began
                assert landing is not None
                await landing.landing()
                began = True

            async with self._slots:
                if await _size_of(path, name) != file_size:
                    raise TransferError(
                        f"{name} changed on disk while it was being uploaded", name=name
                    )
                try:
                    handle = await asyncio.to_thread(path.open, "rb")
                except OSError as exc:
                    raise _unreadable(name, exc) from exc
                try:
                    if landing is not None and length == 0:
                        await last_bytes()  # the headers alone complete an empty body
                    body = read_range(
                        handle, offset, length, functools.partial(progress.add, slot),
                        chunk_size=self._chunk_size,
                        before_last=last_bytes if landing is not None and length else None,
                    )  # fmt: skip
                    async with self._client.stream(
                        "PUT", link, content=body, headers=headers
                    ) as response:
                        reply = await _read_capped(response)
                    stored = _stored(response)
                except SourceChangedError as exc:
                    raise TransferError(f"{name}: {exc}", name=name) from exc
                except (httpx.RequestError, httpx.InvalidURL) as exc:
                    raise _transport_failure(exc) from exc
                except OSError as exc:
                    raise _unreadable(name, exc) from exc
                finally:
                    handle.close()
                    if began:
                        assert landing is not None
                        await landing.landed(stored)
            if not response.is_success:
                raise _refusal_failure(response, reply)

        await self._retrying("upload", name, label, url, refresh, attempt)

    # -- downloads -----------------------------------------------------------------

    async def download(
        self,
        url: str,
        dest_dir: Path,
        file_name: str,
        *,
        refresh: LinkProvider | None = None,
        overwrite: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> Path:
        """Fetch ``url`` into ``dest_dir`` under the server's ``file_name``, made safe.

        The name is reduced to a base name (or refused, TransferError code
        ``UnsafeFileName``) and proven to stay inside ``dest_dir``. Bytes go to
        a temp file beside the target; a body shorter than storage promised
        (its Content-Length, Content-Range or the file's size; a body with no
        length at all is not trusted) resumes with ``Range``; the file is
        fsynced and published atomically. An existing file of that name is replaced only with
        ``overwrite``; otherwise an identical one is accepted and a different
        one is kept and reported (code ``FileExists``): a server can never
        silently clobber a file. Local disk trouble is code ``LocalWriteFailed``.
        Errors raised by ``refresh`` propagate unchanged.
        """
        try:
            base = safe_file_name(file_name)
            target = contained_path(dest_dir, base)
        except ValueError as exc:
            raise TransferError(
                f"Refusing to save a download: {exc}", name=file_name, code="UnsafeFileName"
            ) from exc
        temp = target.with_name(f".{base[:40]}.{secrets.token_hex(6)}.part")
        try:
            await asyncio.to_thread(make_dirs, target.parent)
            with os.fdopen(open_new(temp), "wb") as handle:
                counter = ByteCounter(on_progress or self._on_progress, "download", base, 0)
                state = _Download(base, handle, counter)
                state.progress.start()
                await self._retrying(
                    "download", base, base, url, refresh,
                    functools.partial(self._get_attempt, state=state),
                )  # fmt: skip
                await asyncio.to_thread(_flush_and_sync, handle)
            await asyncio.to_thread(_publish, temp, target, overwrite=overwrite, name=base)
            state.progress.finish()
        except OSError as exc:
            raise TransferError(
                f"Cannot save {base} in {target.parent}: {exc.strerror or exc}",
                name=base,
                code="LocalWriteFailed",
            ) from exc
        finally:
            self._remove(temp)
        return target

    def _remove(self, temp: Path) -> None:
        """Delete a temp file without masking the error that is already on its way."""
        try:
            temp.unlink(missing_ok=True)
        except NotADirectoryError:
            return  # the folder never existed, so neither did the temp file
        except OSError as exc:
            self._log.warning("Could not remove the temp file %s: %s", temp, exc.strerror or exc)

    async def _get_attempt(self, link: str, *, state: _Download) -> None:
        headers = {"Accept-Encoding": "identity"}
        if state.written and not state.encoded:
            headers["Range"] = f"bytes={state.written}-"
        async with self._slots:
            try:
                async with self._client.stream(
                    "GET", link, headers=headers, follow_redirects=True
                ) as response:
                    if response.status_code not in (200, 206):
                        if response.status_code == 416:
                            state.restart()
                        raise _refusal_failure(response, await _read_capped(response))
                    self._position(state, response)
                    chunks = response.aiter_bytes() if state.encoded else response.aiter_raw()
                    async for chunk in chunks:
                        state.write(chunk)
            except (httpx.RequestError, httpx.InvalidURL) as exc:
                raise _transport_failure(exc) from exc
        _check_complete(state)

    def _position(self, state: _Download, response: httpx.Response) -> None:
        """Decide where the body starts: resume (206 at our offset) or from scratch, and note
        what this answer promises (its end, the file's size) for :func:`_check_complete`.

        A body the server encoded anyway (``Content-Encoding: gzip`` despite
        ``identity``) is decoded; its lengths are of the encoded form, so it is
        neither length-checked nor resumed, only restarted.
        """
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        state.encoded = encoding not in ("", "identity")
        declared = response.headers.get("Content-Length")
        chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
        # The HTTP layer holds a body to its Content-Length or chunked framing; a body with
        # neither ends when the connection does, cut or not.
        state.framed = declared is not None or chunked
        if response.status_code == 206 and not state.encoded:
            span = _content_range(response.headers.get("Content-Range"))
            if span is None or span[0] != state.written:
                state.restart()
                raise _Failure("storage answered a resume with an unexpected Content-Range")
            _, last, total = span
            if total is not None and state.total is not None and total != state.total:
                state.restart()
                raise _Failure(
                    f"the file on storage changed size ({state.total} -> {total} bytes) while "
                    "it was being downloaded; starting over"
                )
            state.total = total if total is not None else state.total
            state.answer_end = last + 1
        else:
            if state.written:
                self._log.info("%s: storage ignored the resume request; starting over", state.name)
                state.restart()
            state.total = None if state.encoded else _int_or_none(declared)
            state.answer_end = state.total
        state.progress.total = state.total or 0

    # -- the retry loop ------------------------------------------------------------

    async def _retrying(
        self,
        action: Literal["upload", "download"],
        name: str,
        label: str,
        url: str,
        refresh: LinkProvider | None,
        attempt: Callable[[str], Awaitable[_T]],
    ) -> _T:
        attempts = self._retry.attempts
        link = url
        number = 0
        refreshed = 0
        while True:
            number += 1
            try:
                return await attempt(link)
            except _Failure as failure:
                # a fresh link is not a failed attempt: it has its own (equal) budget
                renew = failure.link_expired and refresh is not None and refreshed < attempts
                if renew:
                    number -= 1
                if number >= attempts or not (failure.retryable or renew):
                    raise TransferError(
                        f"{action.capitalize()} of {label} failed after {number} "
                        f"attempt{'s' if number > 1 else ''}: {failure.reason}",
                        name=name,
                        status=failure.status,
                        code=failure.code,
                        retryable=failure.retryable or failure.link_expired,
                        link_expired=failure.link_expired,
                    ) from None
                if renew and refresh is not None:
                    refreshed += 1
                    self._log.warning(
                        "%s of %s: link expired; fetching a fresh link (%d of %d)",
                        action, label, refreshed, attempts,
                    )  # fmt: skip
                    link = await refresh()
                    continue
                delay = self._retry.delay(number, failure.retry_after)
                self._log.warning(
                    "%s of %s failed (attempt %d of %d: %s); retrying in %.1f s",
                    action, label, number, attempts, failure.reason, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)


@dataclass
class _Download:
    """The temp file of one download and how much of it is written."""

    name: str
    handle: BinaryIO
    progress: ByteCounter
    written: int = 0
    total: int | None = None  # the file's size, as storage declared it
    answer_end: int | None = None  # where the current answer's body says it ends
    framed: bool = True  # the current answer's end is marked (Content-Length or chunked)
    encoded: bool = False

    def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self.written += len(chunk)
        self.progress.set(0, self.written)

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.written = 0
        self.total = None
        self.progress.set(0, 0)


def _check_complete(state: _Download) -> None:
    """Publish nothing storage did not fully send: what arrived must be what the answer
    promised, and the whole file; otherwise this try failed (the next resumes from here)."""
    if state.answer_end is not None and state.written != state.answer_end:
        raise _Failure(f"the body ended at byte {state.written} of the {state.answer_end} sent")
    if state.total is not None and state.written != state.total:
        raise _Failure(f"only {state.written} of {state.total} bytes arrived")
    if state.total is None and state.answer_end is None and not state.framed:
        raise _Failure(
            "storage sent no length, so a body ended by a closed connection cannot be told "
            "from a cut one"
        )


async def _size_of(path: Path, name: str) -> int:
    try:
        stat = await asyncio.to_thread(path.stat)
    except OSError as exc:
        raise _unreadable(name, exc) from exc
    return stat.st_size


def _unreadable(name: str, exc: OSError) -> TransferError:
    return TransferError(
        f"Cannot read {name}: {exc.strerror or exc}", name=name, code="LocalReadFailed"
    )


def _part_span(number: int, part_size: int, size: int) -> tuple[int, int]:
    offset = (number - 1) * part_size
    return offset, max(0, min(part_size, size - offset))


def _check_part_urls(urls: Mapping[int, str], count: int, pending: list[int], name: str) -> None:
    """The server's part list must cover the parts to send, and nothing beyond the file."""
    unknown = sorted(n for n in urls if not 1 <= n <= count)
    missing = [n for n in pending if not isinstance(urls.get(n), str) or not urls[n].strip()]
    if unknown or missing:
        detail = []
        if missing:
            detail.append(f"no link for part(s) {_numbers(missing)}")
        if unknown:
            detail.append(f"links for part(s) {_numbers(unknown)} beyond the {count} parts")
        raise TransferError(
            f"Upload of {name}: the storage part list is unusable ({'; '.join(detail)})",
            name=name,
            code="InvalidPartList",
        )


def _numbers(values: list[int]) -> str:
    shown = ", ".join(str(v) for v in values[:10])
    return shown + (f" and {len(values) - 10} more" if len(values) > 10 else "")


async def _first_error_of(coros: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run all; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for coro in coros:
                group.create_task(coro)
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None


async def _read_capped(response: httpx.Response) -> bytes:
    """The response body, up to what an error message needs (a hostile body can be huge)."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk[: MAX_ERROR_BODY - len(body)]
        if len(body) >= MAX_ERROR_BODY:
            break
    return bytes(body)


def _stored(response: httpx.Response) -> bool | None:
    """What an answer says of the object: stored, refused (4xx), or not known (a 5xx store
    may have kept it)."""
    if response.is_success:
        return True
    return False if response.is_client_error else None


def _refusal_failure(response: httpx.Response, body: bytes) -> _Failure:
    refusal = parse_refusal(response.status_code, body)
    return _Failure(
        redact_urls(refusal.describe()),
        status=response.status_code,
        code=refusal.code,
        retryable=response.status_code in RETRYABLE_STATUSES or response.status_code == 416,
        link_expired=refusal.link_expired,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _transport_failure(exc: httpx.RequestError | httpx.InvalidURL) -> _Failure:
    """A request that got no usable answer; another try helps only for RETRYABLE_ERRORS."""
    detail = redact_urls(str(exc))
    return _Failure(
        f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__,
        retryable=isinstance(exc, RETRYABLE_ERRORS),
    )


def _content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``(first, last, total)`` of ``bytes first-last/total`` (total None for ``*``); None
    unless it is a span that makes sense."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    fsync_file(handle.fileno())


def _publish(temp: Path, target: Path, *, overwrite: bool, name: str) -> None:
    """Move the finished temp file into place without ever clobbering a different file."""
    if overwrite:
        temp.replace(target)
    else:
        try:
            linked = link_new(temp, target)  # the caller removes the temp name
        except FileExistsError:
            _require_same(temp, target, name)
            linked = True
        if not linked:  # a file system without hard links: check, then rename
            if target.exists():
                _require_same(temp, target, name)
            temp.replace(target)
    fsync_dir(target.parent)


def _require_same(temp: Path, target: Path, name: str) -> None:
    if not (target.is_file() and filecmp.cmp(temp, target, shallow=False)):
        raise TransferError(
            f"{name} already exists in {target.parent} with different content; "
            "kept the existing file",
            name=name,
            code="FileExists",
        )
