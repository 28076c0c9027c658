"""Fixtures for durability tests: a log of the file-system calls that make writes durable."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.transfer.conftest import storage  # noqa: F401 - the storage double, as a fixture

_PROC_FD = Path("/proc/self/fd")


@dataclass(frozen=True)
class Event:
    op: str  # fsync, replace, rename, link, mkdir, unlink, commit
    path: str
    source: str | None = None


@dataclass
class SyncLog:
    """Every fsync (with the path of the synced file or folder), rename, link, mkdir, unlink
    and journal commit, in the order they happened, on real files."""

    events: list[Event] = field(default_factory=list)

    def add(self, op: str, path: str | os.PathLike[str], source: Any = None) -> None:
        real = os.path.realpath(path)
        self.events.append(Event(op, real, None if source is None else os.path.realpath(source)))

    def where(self, op: str, path: Path | str | None = None) -> list[int]:
        wanted = None if path is None else os.path.realpath(path)
        return [i for i, e in enumerate(self.events) if e.op == op and wanted in (None, e.path)]

    def synced(self, path: Path | str, *, after: int = -1, before: int | None = None) -> bool:
        end = len(self.events) if before is None else before
        return any(after < i < end for i in self.where("fsync", path))

    def assert_published(self, target: Path) -> int:
        """``target`` got its bytes by a rename or link of a file synced before, and its folder
        was synced after. Returns the index of that rename or link."""
        moves = [
            i
            for i, e in enumerate(self.events)
            if e.op in ("replace", "rename", "link") and e.path == os.path.realpath(target)
        ]
        assert moves, f"{target} was not published by a rename or link: {self.events}"
        move = moves[-1]
        source = self.events[move].source
        assert source is not None
        assert self.synced(source, before=move), (
            f"{source} was not synced before it became {target}"
        )
        assert self.synced(target.parent, after=move), f"{target.parent} not synced after {target}"
        return move

    def assert_created(self, folder: Path) -> None:
        """``folder`` was made by us and its parent synced afterwards."""
        made = self.where("mkdir", folder)
        assert made, f"{folder} was not created: {self.events}"
        assert self.synced(folder.parent, after=made[-1]), f"{folder.parent} not synced"

    def assert_removed(self, target: Path) -> None:
        gone = self.where("unlink", target)
        assert gone, f"{target} was not removed"
        assert self.synced(target.parent, after=gone[-1]), f"{target.parent} not synced"


@pytest.fixture
def sync_log(monkeypatch: pytest.MonkeyPatch) -> SyncLog:
    """Record, without changing them, the calls durability depends on."""
    if not _PROC_FD.is_dir():
        pytest.skip("needs /proc/self/fd to name the file behind a descriptor")
    log = SyncLog()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        log.add("fsync", (_PROC_FD / str(fd)).readlink())
        real_fsync(fd)

    def wrap(op: str, real: Callable[..., Any], *, two: bool) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if two:
                log.add(op, args[1], args[0])
            else:
                log.add(op, args[0])
            return result

        return call

    monkeypatch.setattr(os, "fsync", fsync)
    for name in ("replace", "rename", "link"):
        monkeypatch.setattr(os, name, wrap(name, getattr(os, name), two=True))
    monkeypatch.setattr(os, "mkdir", wrap("mkdir", os.mkdir, two=False))
    real_unlink = os.unlink

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        log.add("unlink", path)  # before: the name is gone after
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real_connect(*args, **kwargs)
        db.set_trace_callback(lambda sql: log.add("commit", args[0]) if sql == "COMMIT" else None)
        return db

    monkeypatch.setattr(sqlite3, "connect", connect)
    return log
