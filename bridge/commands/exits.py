"""How every command ends: one way to report results and errors, one JSON shape, clean stops.

A command builds a :class:`Report` (its consoles and whether ``--json`` was given), runs its
work through :func:`run_command`, and ends with ``report.result(code, data)``. Whatever
escapes the work becomes one message on stderr and an exit code; with ``--json`` stdout
always gets one document, ``{"ok": <exit code is 0>, ...}``: the command's data on success
or failure, ``{"ok": false, "error": {"code", "message"}, ...}`` when it could not finish,
plus what ``report.partial`` says was delivered so far.

SIGINT, SIGTERM and SIGHUP all end a command the same way: the work is cancelled (an async
command's main task, so every ``finally`` and ``async with`` runs), then the exit code is
128 + the signal's number. A second signal while cleaning up ends the process at once.

Kept free of the HTTP stacks: error classes are matched only from modules already imported
(an exception of a class never imported cannot have been raised), so ``merge`` stays quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from bridge.commands.console import (
    STOP_SIGNALS,
    ErrorKind,
    ExitCode,
    consoles,
    json_text,
    signal_exit_code,
)

#: (module, class, kind): the first match wins, so subclasses come before their bases.
_ERROR_KINDS: tuple[tuple[str, str, ErrorKind], ...] = (
    ("bridge.commands.console", "UsageError", ErrorKind.USAGE),
    ("bridge.commands.console", "CommandFailed", ErrorKind.FAILED),
    ("bridge.settings", "SettingsError", ErrorKind.CONFIG),
    ("bridge.emulator.faults", "FaultConfigError", ErrorKind.CONFIG),
    ("bridge.jobs.plan", "PlanError", ErrorKind.USAGE),
    ("bridge.jobs.errors", "JobRequestError", ErrorKind.USAGE),
    ("bridge.imagen", "ImagenAuthError", ErrorKind.AUTH),
    ("bridge.imagen", "ImagenValidationError", ErrorKind.USAGE),
    ("bridge.imagen", "ImagenError", ErrorKind.FAILED),
    ("bridge.transfer", "TransferError", ErrorKind.FAILED),
    ("bridge.xmp.errors", "XmpError", ErrorKind.FAILED),
    ("builtins", "OSError", ErrorKind.FAILED),
)

Partial = Callable[[], Mapping[str, Any]]
Main = Coroutine[Any, Any, ExitCode] | Callable[[], ExitCode]


def error_kind(exc: BaseException) -> ErrorKind | None:
    """The kind of a known error, or None for a bug (which keeps its traceback)."""
    for module, name, kind in _ERROR_KINDS:
        loaded = sys.modules.get(module)
        cls = getattr(loaded, name, None) if loaded is not None else None
        if isinstance(cls, type) and isinstance(exc, cls):
            return kind
    return None


class Report:
    """One run of a command: its consoles, ``--json``, and what it has delivered so far."""

    def __init__(
        self, *, as_json: bool = False, out: Console | None = None, err: Console | None = None
    ) -> None:
        default_out, default_err = consoles()
        self.as_json = as_json
        self.out = out or default_out
        self.err = err or default_err
        self._partial: Partial | None = None
        self._printed = False

    def partial(self, provider: Partial | None) -> None:
        """Register what to add to the JSON if the command ends early (error or signal).

        ``provider`` is called only then, so it can return the live state (say, the photos
        delivered so far); None unregisters it.
        """
        self._partial = provider

    def result(self, code: ExitCode, data: Mapping[str, Any] | None = None) -> ExitCode:
        """The command's outcome: with ``--json``, ``{"ok": code == 0, **data}`` on stdout."""
        if self.as_json:
            self._print_json(code, dict(data or {}))
        return code

    def error(self, kind: ErrorKind, message: str, code: ExitCode | None = None) -> ExitCode:
        """Report an error: a line on stderr and, with ``--json``, the error document."""
        label = "Failed" if kind is ErrorKind.FAILED else "Error"
        if kind is ErrorKind.INTERRUPTED:
            self.err.print(escape(message), style="yellow", highlight=False)
        else:
            self.err.print(f"[red]{label}:[/red] {escape(message)}", highlight=False)
        return self.error_json(kind, message, code)

    def error_json(self, kind: ErrorKind, message: str, code: ExitCode | None = None) -> ExitCode:
        """Only the JSON half of :meth:`error`, for errors someone else already printed."""
        code = kind.exit_code if code is None else code
        if self.as_json and not self._printed:
            delivered = dict(self._partial()) if self._partial is not None else {}
            self._print_json(code, {**delivered, "error": {"code": kind.value, "message": message}})
        return code

    def _print_json(self, code: ExitCode, data: dict[str, Any]) -> None:
        if self._printed:  # one document per run, whatever happens after the first
            return
        self._printed = True
        data.pop("ok", None)
        self.out.file.write(json_text({"ok": code is ExitCode.OK, **data}))
        self.out.file.flush()


class Interrupted(BaseException):
    """A stop signal arrived during synchronous work (like KeyboardInterrupt, not an Exception)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class _Stop:
    signum: int | None = None

    def first(self, signum: int) -> bool:
        """Record a stop signal; False for a second one, which ends the process at once."""
        if self.signum is not None:
            return False
        self.signum = signum
        return True


def _die_by(signum: int) -> None:
    """The signal's default action: the process ends as if it had never been handled."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextlib.contextmanager
def _sync_signals(stop: _Stop) -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Interrupted` where the work is (SIGINT already does)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not stop.first(signum):
            _die_by(signum)
        raise Interrupted(signum)

    previous: dict[int, Any] = {}
    try:
        for sig in STOP_SIGNALS:
            if sig is not signal.SIGINT:
                previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


async def _cancel_on_signals(main: Coroutine[Any, Any, ExitCode], stop: _Stop) -> ExitCode:
    """Run ``main`` as a task that each stop signal cancels, so its cleanup runs."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_signal(signum: int) -> None:
        if not stop.first(signum):
            loop.remove_signal_handler(signum)
            _die_by(signum)
            return
        task.cancel()

    installed = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main thread
            continue
        installed.append(sig)
    try:
        return await main
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def run_command(main: Main, report: Report) -> ExitCode:
    """Run a command's work and return its exit code; errors and stops are reported here.

    ``main`` is a coroutine (run on a new event loop) or a plain function. If it returns,
    its code stands (a command that handled the stop itself, such as a server, decides);
    if a stop signal ends it, the code is 128 + the signal's number.
    """
    stop = _Stop()
    try:
        if asyncio.iscoroutine(main):
            return asyncio.run(_cancel_on_signals(main, stop))
        assert callable(main)
        with _sync_signals(stop):
            return main()
    except KeyboardInterrupt:
        stop.first(signal.SIGINT)
        return _interrupted(report, stop)
    except (Interrupted, asyncio.CancelledError):
        return _interrupted(report, stop)
    except typer.Exit:
        raise
    except Exception as exc:
        if stop.signum is not None:  # failed while being stopped: it is still a stop
            report.err.print(f"While stopping: {escape(str(exc))}", highlight=False)
            return _interrupted(report, stop)
        kind = error_kind(exc)
        if kind is None:
            report.error_json(ErrorKind.FAILED, f"internal error: {exc!r}")
            raise
        return report.error(kind, str(exc))


def _interrupted(report: Report, stop: _Stop) -> ExitCode:
    signum = stop.signum if stop.signum is not None else signal.SIGINT
    return report.error(
        ErrorKind.INTERRUPTED,
        f"Cancelled ({_signal_name(signum)}); stopped cleanly.",
        signal_exit_code(signum),
    )
