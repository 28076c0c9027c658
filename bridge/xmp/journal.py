"""The merge journal: what each merge changed, with byte-exact backups, so it can be undone.

Storage is one SQLite file (stdlib ``sqlite3``, WAL, ``synchronous=FULL``) in the data dir,
with backups as plain files under ``<data_dir>/backups/<merge_id>/``. SQLite rather than JSON
manifests because a merge of thousands of files records its rows as it goes: each batch of
rows is one durable transaction, where a JSON manifest would have to be rewritten whole (or
parsed back from an append log) after every batch, and listing merges with their counts is
one query.

Crash safety comes from ordering: a file's backup is written and fsynced, then its row is
committed, and only then is the target replaced. A row therefore means "about to be written";
undo never assumes the write happened: it compares the file on disk with the hashes recorded,
so a merge interrupted at any point undoes cleanly, and a file the photographer (or Lightroom)
changed since the merge is left alone.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import ParamSpec, TypeVar

from bridge.durable import fsync_dir, make_dirs, write_new
from bridge.xmp.errors import JournalError, PublishError
from bridge.xmp.publish import Snapshot, publish, read_snapshot, remove_published

JOURNAL_FILE = "bridge.sqlite3"
"""Shared with the job store (``bridge.jobs.store``): a job and its merges live in one file."""
OLD_JOURNAL_FILE = "merge-journal.sqlite3"  # before 0.2: the journal had a file of its own
BACKUP_DIR = "backups"
_SCHEMA_VERSION = 1
_MERGE_ID = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{4}$")
#: Backups are restored whole; a sidecar cannot have grown past this since we wrote it.
_MAX_RESTORE_BYTES = 64 * 2**20
P = ParamSpec("P")
R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS merges (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    into_dir BLOB NOT NULL,
    undone_at TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    merge_id TEXT NOT NULL REFERENCES merges(id),
    seq INTEGER NOT NULL,
    sidecar BLOB NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('created', 'updated')),
    backup TEXT,
    old_sha256 TEXT,
    old_mode INTEGER,
    new_sha256 TEXT NOT NULL,
    -- 'applied' from before the write: whether it happened is read off the file's bytes
    state TEXT NOT NULL CHECK (state IN ('applied', 'undone')),
    PRIMARY KEY (merge_id, seq)
);
"""


class EntryAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"


class UndoOutcome(StrEnum):
    RESTORED = "restored"
    REMOVED = "removed"
    ALREADY = "already as before"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class MergeSummary:
    merge_id: str
    created_at: datetime
    into_dir: Path
    created: int
    updated: int
    undone: int
    undone_at: datetime | None

    @property
    def state(self) -> str:
        if self.undone_at is not None:
            return "undone"
        return "partly undone" if self.undone else "applied"


@dataclass(frozen=True)
class UndoItem:
    sidecar: Path
    outcome: UndoOutcome
    reason: str | None = None


@dataclass(frozen=True)
class UndoReport:
    merge_id: str
    items: tuple[UndoItem, ...]

    @property
    def complete(self) -> bool:
        """Every file of the merge is back to how it was before it."""
        return all(
            item.outcome not in (UndoOutcome.REFUSED, UndoOutcome.FAILED) for item in self.items
        )


def new_merge_id(now: datetime) -> str:
    """Sortable by time (UTC, microseconds), unique via a random suffix, safe as a folder name."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S-%f")
    return f"{stamp}-{secrets.token_hex(2)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _path_blob(path: Path) -> bytes:
    """Paths are stored as OS bytes: any name the file system allows round-trips exactly."""
    return os.fsencode(path)


def _blob_path(blob: bytes) -> Path:
    return Path(os.fsdecode(blob))


def _backup_name(path: Path) -> str:
    """The sidecar's name as valid text for the ``backup`` column: bytes that are not UTF-8
    (a name from an old Windows share) become ``\\xff`` escapes, still a usable file name."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


def _tables(db: sqlite3.Connection) -> dict[str, str]:
    """Each table's CREATE statement as SQLite stores it, comments dropped, whitespace folded
    (so rewording a comment in ``_SCHEMA`` does not make existing journals unknown)."""
    rows = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name: " ".join(re.sub(r"--[^\n]*", " ", sql).split()) for name, sql in rows}


@functools.cache
def _expected_tables() -> dict[str, str]:
    memory = sqlite3.connect(":memory:")
    try:
        memory.executescript(_SCHEMA)
        return _tables(memory)
    finally:
        memory.close()


def _sqlite_errors(method: Callable[P, R]) -> Callable[P, R]:
    """A database error (disk full, locked, damaged file) becomes a JournalError naming the
    journal, never a traceback; what the method had not yet done stays undone."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            journal = args[0]
            assert isinstance(journal, Journal)
            raise JournalError(
                f"The merge journal {journal.data_dir / JOURNAL_FILE} failed: {exc}"
            ) from exc

    return wrapper


def _write_backup(job: tuple[Path, Snapshot]) -> OSError | None:
    """Write one backup; an error is returned, not raised, so that every write has ended
    before a failure removes them all (none may land after the clean-up)."""
    path, old = job
    assert old.data is not None
    try:
        write_new(path, old.data)  # ordinary file mode; the backup folders are 0o700
    except OSError as exc:
        return exc
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class Journal:
    """Open (creating if needed) the journal in ``data_dir``. Use as a context manager."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.backup_root = data_dir / BACKUP_DIR
        try:
            make_dirs(self.backup_root, mode=0o700)
            self._db = sqlite3.connect(data_dir / JOURNAL_FILE, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"Cannot open the merge journal in {data_dir}: {exc}") from exc
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise JournalError(
                f"The merge journal {data_dir / JOURNAL_FILE} is unreadable: {exc}"
            ) from exc
        except JournalError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        """Check the file before writing anything to it; then create what is missing."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise JournalError(
                f"The merge journal {self.data_dir / JOURNAL_FILE} was written by a newer "
                "imagen-bridge; upgrade to use it"
            )
        expected = _expected_tables()
        tables = _tables(self._db)  # other tables in the file are the job store's
        if any(name in tables and tables[name] != sql for name, sql in expected.items()):
            raise JournalError(
                f"The merge journal {self.data_dir / JOURNAL_FILE} has a layout this "
                "imagen-bridge does not know (another version wrote it). Move it aside to start "
                f"a new journal; the backups in {self.backup_root} stay readable by hand"
            )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._db:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        self._adopt_old_journal()

    def _adopt_old_journal(self) -> None:
        """Copy the merges of a journal from before 0.2 into this file, once."""
        old = self.data_dir / OLD_JOURNAL_FILE
        if not old.is_file():
            return
        self._db.execute("ATTACH DATABASE ? AS old", (str(old),))
        try:
            with self._db:
                self._db.execute("INSERT OR IGNORE INTO merges SELECT * FROM old.merges")
                self._db.execute("INSERT OR IGNORE INTO entries SELECT * FROM old.entries")
        finally:
            self._db.execute("DETACH DATABASE old")
        old.replace(old.with_name(OLD_JOURNAL_FILE + ".adopted"))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- recording -------------------------------------------------------------------------

    @_sqlite_errors
    def record(
        self,
        merge_id: str,
        *,
        now: datetime,
        into_dir: Path,
        writes: Sequence[tuple[Snapshot, bytes]],
        executor: Executor | None = None,
    ) -> list[int]:
        """Back up each ``(current, new bytes)`` durably, then journal them in one transaction.

        Returns the entries' numbers, for :meth:`forget` if publishing then fails.
        ``executor`` writes the backups in parallel (their fsyncs overlap). If any backup
        fails, none is journaled and JournalError is raised: nothing may be published.
        """
        self._check_id(merge_id)
        first = self._db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM entries WHERE merge_id = ?", (merge_id,)
        ).fetchone()[0]
        folder = self.backup_root / merge_id
        backups = [
            f"{first + n:06d}-{_backup_name(old.path)}" if old.data is not None else None
            for n, (old, _) in enumerate(writes)
        ]
        jobs = [
            (folder / name, old) for name, (old, _) in zip(backups, writes, strict=True) if name
        ]
        try:
            make_dirs(folder, mode=0o700)
            run = executor.map if executor is not None else map
            failure = next((e for e in list(run(_write_backup, jobs)) if e is not None), None)
            if failure is not None:
                raise failure
            fsync_dir(folder)  # every backup's name is on disk before its row is committed
        except OSError as exc:
            for path, _ in jobs:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise JournalError(
                f"Cannot back up into {folder}: {exc.strerror or exc}; nothing was changed"
            ) from exc
        rows = [
            (
                merge_id,
                first + n,
                _path_blob(old.path.absolute()),
                EntryAction.UPDATED if old.exists else EntryAction.CREATED,
                backup,
                sha256(old.data) if old.data is not None else None,
                old.mode,
                sha256(new),
            )
            for n, ((old, new), backup) in enumerate(zip(writes, backups, strict=True))
        ]
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR IGNORE INTO merges (id, created_at, into_dir) VALUES (?, ?, ?)",
                    (merge_id, _iso(now), _path_blob(into_dir.absolute())),
                )
                self._db.executemany(
                    "INSERT INTO entries (merge_id, seq, sidecar, action, backup, old_sha256,"
                    " old_mode, new_sha256, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'applied')",
                    rows,
                )
        except sqlite3.Error:
            for path, _ in jobs:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        return [first + n for n in range(len(writes))]

    @_sqlite_errors
    def forget(self, merge_id: str, seqs: Iterable[int]) -> None:
        """These writes did not happen: drop their rows and backups."""
        for seq in seqs:
            row = self._db.execute(
                "SELECT backup FROM entries WHERE merge_id = ? AND seq = ?", (merge_id, seq)
            ).fetchone()
            with self._db:
                self._db.execute(
                    "DELETE FROM entries WHERE merge_id = ? AND seq = ?", (merge_id, seq)
                )
            if row and row[0]:
                (self.backup_root / merge_id / row[0]).unlink(missing_ok=True)

    # -- reading ---------------------------------------------------------------------------

    @_sqlite_errors
    def merges(self) -> list[MergeSummary]:
        """Every merge with at least one write, newest first."""
        rows = self._db.execute(
            "SELECT m.id, m.created_at, m.into_dir, m.undone_at,"
            " SUM(e.action = 'created'), SUM(e.action = 'updated'), SUM(e.state = 'undone')"
            " FROM merges m JOIN entries e ON e.merge_id = m.id"
            " GROUP BY m.id ORDER BY m.id DESC"
        ).fetchall()
        return [
            MergeSummary(
                merge_id=row[0],
                created_at=datetime.fromisoformat(row[1]),
                into_dir=_blob_path(row[2]),
                undone_at=datetime.fromisoformat(row[3]) if row[3] else None,
                created=int(row[4]),
                updated=int(row[5]),
                undone=int(row[6]),
            )
            for row in rows
        ]

    def last_merge_id(self) -> str | None:
        merges = self.merges()
        return merges[0].merge_id if merges else None

    # -- undo ------------------------------------------------------------------------------

    @_sqlite_errors
    def undo(self, merge_id: str, *, now: datetime) -> UndoReport:
        """Put every file of the merge back byte for byte, newest write first.

        A file changed since the merge is refused (and named) while the others are restored;
        running undo again later retries just the refused ones.
        """
        self._check_id(merge_id)
        merge = self._db.execute(
            "SELECT undone_at FROM merges WHERE id = ?", (merge_id,)
        ).fetchone()
        if merge is None:
            raise JournalError(f"There is no merge {merge_id} in the journal")
        if merge[0] is not None:
            raise JournalError(f"Merge {merge_id} was already undone on {merge[0]}")
        rows = self._db.execute(
            "SELECT seq, sidecar, action, backup, old_sha256, old_mode, new_sha256 FROM entries"
            " WHERE merge_id = ? AND state != 'undone' ORDER BY seq DESC",
            (merge_id,),
        ).fetchall()
        items = []
        for seq, sidecar, action, backup, old_sha, old_mode, new_sha in rows:
            item = self._undo_entry(
                merge_id, _blob_path(sidecar), EntryAction(action), backup, old_sha, old_mode,
                new_sha,
            )  # fmt: skip
            if item.outcome not in (UndoOutcome.REFUSED, UndoOutcome.FAILED):
                with self._db:
                    self._db.execute(
                        "UPDATE entries SET state = 'undone' WHERE merge_id = ? AND seq = ?",
                        (merge_id, seq),
                    )
            items.append(item)
        report = UndoReport(merge_id, tuple(items))
        if report.complete:
            with self._db:
                self._db.execute(
                    "UPDATE merges SET undone_at = ? WHERE id = ?", (_iso(now), merge_id)
                )
        return report

    def _undo_entry(
        self,
        merge_id: str,
        sidecar: Path,
        action: EntryAction,
        backup: str | None,
        old_sha: str | None,
        old_mode: int | None,
        new_sha: str,
    ) -> UndoItem:
        try:
            current = read_snapshot(sidecar, max_bytes=_MAX_RESTORE_BYTES)
        except PublishError as exc:
            return UndoItem(sidecar, UndoOutcome.FAILED, str(exc))
        current_sha = sha256(current.data) if current.data is not None else None
        if action is EntryAction.CREATED:
            if current_sha is None:
                return UndoItem(sidecar, UndoOutcome.ALREADY, "it is already gone")
            if current_sha != new_sha:
                return UndoItem(
                    sidecar,
                    UndoOutcome.REFUSED,
                    "it was changed after the merge created it; left as it is",
                )
            return self._apply(sidecar, UndoOutcome.REMOVED, lambda: remove_published(current))
        if current_sha == old_sha:
            return UndoItem(sidecar, UndoOutcome.ALREADY, "it already holds its old content")
        backup_path = self.backup_root / merge_id / (backup or "")
        if current_sha != new_sha:
            return UndoItem(
                sidecar,
                UndoOutcome.REFUSED,
                f"it was changed after the merge; left as it is (its old content is in "
                f"{backup_path})",
            )
        try:
            old = backup_path.read_bytes()
        except OSError as exc:
            return UndoItem(
                sidecar, UndoOutcome.FAILED, f"its backup {backup_path} cannot be read: {exc}"
            )
        if sha256(old) != old_sha:
            return UndoItem(
                sidecar, UndoOutcome.FAILED, f"its backup {backup_path} is damaged; not restoring"
            )
        return self._apply(
            sidecar, UndoOutcome.RESTORED, lambda: publish(current, old, mode=old_mode)
        )

    @staticmethod
    def _apply(sidecar: Path, outcome: UndoOutcome, action: Callable[[], None]) -> UndoItem:
        try:
            action()
        except PublishError as exc:
            return UndoItem(sidecar, UndoOutcome.FAILED, str(exc))
        return UndoItem(sidecar, outcome)

    @staticmethod
    def _check_id(merge_id: str) -> None:
        if not _MERGE_ID.fullmatch(merge_id):
            raise JournalError(
                f"{merge_id!r} is not a merge id (they look like 20250131-142501-123456-ab12)"
            )
