"""A :class:`~bridge.transfer.Transfer` in a process of its own, with the same methods.

Moving hundreds of megabytes over a fast link is CPU work in Python (TLS, httpx, file
reads), and in the server it would share one GIL and one event loop with the API that
Lightroom polls. :class:`TransferProcess` runs the real ``Transfer`` in a helper process
(lower priority, gone with its parent: :func:`bridge.workers.follow_parent`) and keeps the
caller's side unchanged: the same arguments, the same progress events, the same
:class:`TransferError` fields, link refreshes and ``landing`` answered by the caller's
own callbacks, cancellation that stops the child's work (and its temp files) before it
returns, and retry warnings logged on the caller's logger.

The wire is one JSON object per line on the child's stdin and stdout. Calls carry an
``id``; the child answers each with exactly one final message (``done``, ``error``,
``invalid``, ``callback_failed``, ``crashed`` or ``canceled``), and meanwhile may send
``progress``, ``part``, ``log`` and ``ask`` (a link refresh, or ``landing`` and ``landed``
for the caller's :class:`Landing`, which the caller answers with ``answer``). A child
that dies fails its open calls with a retryable TransferError; the next call starts a
new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from bridge.closing import AsyncClosing
from bridge.transfer.engine import DEFAULT_TIMEOUT, Landing, LinkProvider, Transfer
from bridge.transfer.errors import TransferError
from bridge.transfer.files import CHUNK_SIZE
from bridge.transfer.progress import ProgressCallback, ProgressEvent
from bridge.transfer.retry import RetryPolicy
from bridge.workers import follow_parent

#: Longest wait for the child to wind a canceled call down (remove its temp file).
CANCEL_WAIT_S = 10.0
#: Progress of one call crosses at most this often (its first and last always do): the
#: caller's loop, an API server's, has better things to do than parse 4 messages per MB.
PROGRESS_EVERY_S = 0.1
#: Longest wait for the child to end after its stdin closed.
EXIT_WAIT_S = 5.0
_LINE_LIMIT = 64 * 2**20  # a multipart call lists every part's link
_ERROR_FIELDS = ("name", "status", "code", "retryable", "link_expired")


@dataclass
class _Call:
    """The caller's side of one call in the child."""

    name: str
    done: asyncio.Future[dict[str, Any]]
    on_progress: ProgressCallback | None = None
    refresh: LinkProvider | None = None
    landing: Landing | None = None
    on_part_done: Callable[[int], None] | None = None
    callback_error: BaseException | None = None
    landing_open: bool = False  # told ``landing`` and not yet ``landed``
    helpers: set[asyncio.Task[None]] = field(default_factory=set)


class TransferProcess(AsyncClosing):
    """Use as ``async with TransferProcess() as t:``; the arguments are :class:`Transfer`'s."""

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
        self.concurrency = concurrency
        self._config = {
            "concurrency": concurrency,
            "retry": dataclasses.asdict(retry),
            "timeout": timeout.as_dict(),
            "chunk_size": chunk_size,
        }
        self._on_progress = on_progress
        self._log = logger or logging.getLogger("bridge.transfer")
        self._ids = itertools.count(1)
        self._calls: dict[int, _Call] = {}
        self._child: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        """The helper process's pid while one runs (one is started again when it died)."""
        child = self._child
        return child.pid if child is not None and child.returncode is None else None

    async def __aenter__(self) -> Self:
        await self._ensure_child()
        return self

    async def aclose(self) -> None:
        """Close the child's stdin (it cancels what is open and ends), then wait for it."""
        child, self._child = self._child, None
        if child is None:
            return
        if child.stdin is not None:
            child.stdin.close()
        try:
            async with asyncio.timeout(EXIT_WAIT_S):
                await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()
        if self._reader is not None:
            await self._reader

    # -- the Transfer methods ---------------------------------------------------------------

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
        """As :meth:`Transfer.put_file`."""
        await self._call(
            {"op": "put_file", "path": os.fspath(path), "url": url, "name": name,
             "content_md5": content_md5, "refresh": refresh is not None,
             "landing": landing is not None},
            name, on_progress=on_progress, refresh=refresh, landing=landing,
        )  # fmt: skip

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
        """As :meth:`Transfer.put_multipart`."""
        await self._call(
            {"op": "put_multipart", "path": os.fspath(path),
             "part_urls": {str(n): u for n, u in part_urls.items()}, "part_size": part_size,
             "name": name, "done_parts": sorted(done_parts)},
            name, on_progress=on_progress, on_part_done=on_part_done,
        )  # fmt: skip

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
        """As :meth:`Transfer.download`."""
        reply = await self._call(
            {"op": "download", "url": url, "dest_dir": os.fspath(dest_dir),
             "file_name": file_name, "refresh": refresh is not None, "overwrite": overwrite},
            file_name, on_progress=on_progress, refresh=refresh,
        )  # fmt: skip
        return Path(reply["path"])

    # -- calls ------------------------------------------------------------------------------

    async def _call(
        self,
        message: dict[str, Any],
        name: str,
        *,
        on_progress: ProgressCallback | None,
        refresh: LinkProvider | None = None,
        landing: Landing | None = None,
        on_part_done: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        child = await self._ensure_child()
        call_id = next(self._ids)
        call = _Call(
            name, asyncio.get_running_loop().create_future(),
            on_progress or self._on_progress, refresh, landing, on_part_done,
        )  # fmt: skip
        self._calls[call_id] = call
        try:
            try:
                await self._send(child, {"id": call_id, **message})
            except ConnectionError:  # it died just now; its reader may have ended already
                if not call.done.done():
                    call.done.set_result({"died": await child.wait()})
            try:
                reply = await asyncio.shield(call.done)
            except asyncio.CancelledError:
                await asyncio.shield(self._cancel(child, call_id, call))
                raise
        finally:
            self._calls.pop(call_id, None)
            for helper in call.helpers:
                helper.cancel()
            if call.landing_open and call.landing is not None:
                # the call ended between the two: the child's last word says how (a dead
                # child has none, and then nobody knows)
                call.landing_open = False
                end = call.done.result() if call.done.done() else {}
                await call.landing.landed(end.get("stored"))
        return _outcome(reply, call)

    async def _cancel(self, child: asyncio.subprocess.Process, call_id: int, call: _Call) -> None:
        """Ask the child to stop the call, and wait until it has (its temp files are gone)."""
        with contextlib.suppress(Exception):
            await self._send(child, {"id": call_id, "op": "cancel"})
            async with asyncio.timeout(CANCEL_WAIT_S):
                await call.done

    async def _ensure_child(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._child is not None and self._child.returncode is None:
                return self._child
            if self._reader is not None:
                await self._reader  # the dead child's calls are failed first
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridge.transfer.process", json.dumps(self._config),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
            )  # fmt: skip
            self._child = child
            self._reader = asyncio.create_task(self._read(child), name="transfer-process")
            return child

    @staticmethod
    async def _send(child: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
        assert child.stdin is not None
        child.stdin.write(json.dumps(message).encode("ascii") + b"\n")
        await child.stdin.drain()

    async def _read(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        try:
            while line := await child.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:  # not ours (a library printing): said, not fatal
                    self._log.warning("transfer process said: %r", line[:200])
                    continue
                self._dispatch(child, message)
        finally:
            code = await child.wait()
            for call in list(self._calls.values()):
                if not call.done.done():
                    call.done.set_result({"died": code})

    def _dispatch(self, child: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
        if "log" in message:
            self._log.log(message["log"], "%s", message["message"])
            return
        call = self._calls.get(message["id"])
        if call is None:
            return  # a call that was given up on
        if "progress" in message:
            if call.on_progress is not None:
                call.on_progress(ProgressEvent(*message["progress"]))
        elif "part" in message:
            if call.on_part_done is not None:
                call.on_part_done(message["part"])
        elif "ask" in message:
            helper = asyncio.create_task(self._answer(child, message, call))
            call.helpers.add(helper)
            helper.add_done_callback(call.helpers.discard)
        elif not call.done.done():
            call.done.set_result(message)

    async def _answer(
        self, child: asyncio.subprocess.Process, message: dict[str, Any], call: _Call
    ) -> None:
        """Run the caller's callback the child asked for, and tell it how it went."""
        ask = message["ask"]
        answer: dict[str, Any] = {"id": message["id"], "op": "answer"}
        try:
            if ask == "link" and call.refresh is not None:
                answer["link"] = await call.refresh()
            elif ask == "landing" and call.landing is not None:
                await call.landing.landing()
                call.landing_open = True
            elif ask == "landed" and call.landing is not None and call.landing_open:
                call.landing_open = False
                await call.landing.landed(message["stored"])
        except Exception as exc:  # raised to the caller unchanged, as Transfer does
            call.callback_error = exc
            answer["failed"] = True
        with contextlib.suppress(ConnectionError):
            await self._send(child, answer)


def _outcome(reply: dict[str, Any], call: _Call) -> dict[str, Any]:
    """The call's result, or the exception the in-process Transfer would have raised."""
    if "done" in reply:
        return reply
    if "error" in reply:
        error = reply["error"]
        raise TransferError(error["message"], **{k: error[k] for k in _ERROR_FIELDS})
    if "invalid" in reply:
        raise ValueError(reply["invalid"])
    if "callback_failed" in reply and call.callback_error is not None:
        raise call.callback_error
    if "died" in reply:
        raise TransferError(
            f"Transfer of {call.name} was cut short: the transfer process ended "
            f"(exit code {reply['died']})",
            name=call.name,
            retryable=True,
        )
    raise RuntimeError(f"the transfer process failed on {call.name}: {reply.get('crashed')}")


# -- the child ----------------------------------------------------------------------------------


class _CallbackFailed(Exception):
    """The caller's refresh or landing raised; the caller raises it again."""


class _Child:
    """Runs the calls of one parent on one Transfer until stdin closes."""

    def __init__(self, transfer: Transfer, loop: asyncio.AbstractEventLoop) -> None:
        self.transfer = transfer
        self.loop = loop
        self.calls: dict[int, asyncio.Task[None]] = {}
        self.asked: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.closed = False
        self._out = sys.stdout.buffer

    def send(self, message: dict[str, Any]) -> None:
        self._out.write(json.dumps(message).encode("ascii") + b"\n")
        self._out.flush()

    def take(self, message: dict[str, Any]) -> None:
        call_id, op = message["id"], message["op"]
        if op == "cancel":
            task = self.calls.get(call_id)
            if task is not None:
                task.cancel()
        elif op == "answer":
            asked = self.asked.pop(call_id, None)
            if asked is not None and not asked.done():
                asked.set_result(message)
        else:
            self.calls[call_id] = asyncio.create_task(self.run(call_id, message))

    async def ask(self, call_id: int, what: str, **details: Any) -> dict[str, Any]:
        if self.closed:
            raise _CallbackFailed  # the parent is gone: nobody would answer
        asked: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.asked[call_id] = asked
        self.send({"id": call_id, "ask": what, **details})
        answer = await asked
        if answer.get("failed"):
            raise _CallbackFailed
        return answer

    async def run(self, call_id: int, message: dict[str, Any]) -> None:
        sent_at = -PROGRESS_EVERY_S

        def progress(event: ProgressEvent) -> None:
            nonlocal sent_at
            now = time.monotonic()
            if 0 < event.done < event.total and now - sent_at < PROGRESS_EVERY_S:
                return
            sent_at = now
            self.send({"id": call_id, "progress": dataclasses.astuple(event)})

        async def refresh() -> str:
            link: str = (await self.ask(call_id, "link"))["link"]
            return link

        reply: dict[str, Any]
        landing = _AskLanding(self, call_id) if message.get("landing") else None
        try:
            reply = {"done": True}
            op = message["op"]
            if op == "put_file":
                await self.transfer.put_file(
                    Path(message["path"]), message["url"], name=message["name"],
                    content_md5=message["content_md5"],
                    refresh=refresh if message["refresh"] else None, on_progress=progress,
                    landing=landing,
                )  # fmt: skip
            elif op == "put_multipart":
                await self.transfer.put_multipart(
                    Path(message["path"]),
                    {int(n): u for n, u in message["part_urls"].items()},
                    message["part_size"], name=message["name"],
                    done_parts=message["done_parts"],
                    on_part_done=lambda n: self.send({"id": call_id, "part": n}),
                    on_progress=progress,
                )  # fmt: skip
            else:
                path = await self.transfer.download(
                    message["url"], Path(message["dest_dir"]), message["file_name"],
                    refresh=refresh if message["refresh"] else None,
                    overwrite=message["overwrite"], on_progress=progress,
                )  # fmt: skip
                reply["path"] = os.fspath(path)
        except TransferError as exc:
            error = {k: getattr(exc, k) for k in _ERROR_FIELDS}
            reply = {"error": {"message": str(exc), **error}}
        except _CallbackFailed:
            reply = {"callback_failed": True}
        except ValueError as exc:
            reply = {"invalid": str(exc)}
        except asyncio.CancelledError:
            reply = {"canceled": True}
        except Exception as exc:  # a bug: the caller says so instead of waiting forever
            reply = {"crashed": repr(exc)}
        finally:
            self.calls.pop(call_id, None)
            self.asked.pop(call_id, None)
        if landing is not None:
            reply["stored"] = landing.stored
        self.send({"id": call_id, **reply})


class _AskLanding:
    """The caller's :class:`Landing`, asked over the wire."""

    def __init__(self, child: _Child, call_id: int) -> None:
        self.child = child
        self.call_id = call_id
        # as far as this side knows: not sent, open (None) or how the last try ended; the
        # call's final message repeats it, in case the caller did not hear ``landed``
        self.stored: bool | None = False

    async def landing(self) -> None:
        await self.child.ask(self.call_id, "landing")
        self.stored = None

    async def landed(self, stored: bool | None) -> None:
        self.stored = stored
        await self.child.ask(self.call_id, "landed", stored=stored)


class _Forward(logging.Handler):
    """The child's log records go to the parent, which logs them on the caller's logger."""

    def __init__(self, child: _Child) -> None:
        super().__init__()
        self._child = child

    def emit(self, record: logging.LogRecord) -> None:
        self._child.send({"log": record.levelno, "message": record.getMessage()})


async def _serve(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def read() -> None:  # a thread: stdin cannot be read by the event loop everywhere
        for line in sys.stdin.buffer:
            loop.call_soon_threadsafe(inbox.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(inbox.put_nowait, None)

    threading.Thread(target=read, name="transfer-inbox", daemon=True).start()
    log = logging.getLogger("bridge.transfer.process")
    log.propagate = False
    log.setLevel(logging.INFO)
    async with Transfer(
        concurrency=config["concurrency"],
        retry=RetryPolicy(**config["retry"]),
        timeout=httpx.Timeout(**config["timeout"]),
        chunk_size=config["chunk_size"],
        logger=log,
    ) as transfer:
        child = _Child(transfer, loop)
        log.addHandler(_Forward(child))
        while (message := await inbox.get()) is not None:
            child.take(message)
        child.closed = True
        for asked in child.asked.values():
            asked.cancel()
        open_calls = list(child.calls.values())
        for task in open_calls:
            task.cancel()
        await asyncio.gather(*open_calls, return_exceptions=True)


def main() -> None:
    follow_parent()
    asyncio.run(_serve(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
