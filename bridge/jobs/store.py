"""The job store: jobs, their photos and projects, in one SQLite file in the data dir.

The same file holds the merge journal (``bridge.xmp.journal``, which versions its
tables with ``PRAGMA user_version``; the job tables are versioned in
``schema_versions``), so a job and the merges it made live and die together.
WAL with ``synchronous=FULL``: a step is durable once its transaction commits,
and a bridge killed at any moment finds every finished step again on restart.

All writes go through one writer thread that commits whatever is waiting in one
transaction (group commit): a hundred uploads finishing at once cost one fsync,
not a hundred. Readers use their own connections (WAL lets them run beside it).
The job schema is migrated forward one numbered step at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from bridge.xmp.journal import JOURNAL_FILE

DB_FILE = JOURNAL_FILE
COMPONENT = "jobs"
READER_CACHE_KIB = 256

Op = Callable[[sqlite3.Connection], Any]

_MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, photos, projects, open multipart uploads
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        state TEXT NOT NULL,
        request TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        out_dir TEXT NOT NULL,
        label TEXT,
        run_name TEXT NOT NULL,
        error_code TEXT,
        error_message TEXT,
        merge_id TEXT,
        revision INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        lease_owner TEXT,
        lease_until REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_state ON jobs (state);
    CREATE TABLE photos (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        caller_id TEXT,
        path TEXT NOT NULL,
        kind TEXT,
        size INTEGER NOT NULL DEFAULT 0,
        project INTEGER,
        state TEXT NOT NULL,
        reason TEXT,
        revision INTEGER NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0,
        bytes_done INTEGER NOT NULL DEFAULT 0,
        outputs TEXT NOT NULL DEFAULT '[]',
        exports TEXT NOT NULL DEFAULT '[]',
        sidecar TEXT,
        hdr_output TEXT,
        applied_at TEXT,
        apply_error TEXT,
        PRIMARY KEY (job_id, idx)
    );
    CREATE INDEX photos_revision ON photos (job_id, revision);
    CREATE TABLE projects (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        subdir TEXT NOT NULL,
        uuid TEXT,
        edit TEXT NOT NULL DEFAULT 'none',
        edit_details TEXT,
        export TEXT NOT NULL DEFAULT 'none',
        done_files TEXT NOT NULL DEFAULT '[]',
        extras TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (job_id, idx)
    );
    CREATE TABLE uploads (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        photo_idx INTEGER NOT NULL,
        upload_id TEXT NOT NULL,
        key TEXT NOT NULL,
        part_size INTEGER NOT NULL,
        urls TEXT NOT NULL,
        created_at REAL NOT NULL,
        done_parts TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (job_id, photo_idx)
    );
    """,
    # 2: deliveries of exported JPEGs, one row per photo and target once it is done
    """
    CREATE TABLE deliveries (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        photo_idx INTEGER NOT NULL,
        target TEXT NOT NULL,
        ok INTEGER NOT NULL,
        result TEXT NOT NULL,
        delivered_at TEXT NOT NULL,
        PRIMARY KEY (job_id, photo_idx, target)
    );
    """,
    # 3: which files were going up when a run stopped (their answer may be lost)
    """
    ALTER TABLE photos ADD COLUMN sending INTEGER NOT NULL DEFAULT 0;
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class StoreError(Exception):
    """The job store cannot be opened or written; the message names the file."""


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every user of the file needs (the journal's too)."""
    db = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the job tables to :data:`SCHEMA_VERSION`, refusing those of a newer bridge."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions"
        " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = db.execute(
        "SELECT version FROM schema_versions WHERE component = ?", (COMPONENT,)
    ).fetchone()
    version = row[0] if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(f"The job store {path} was written by a newer imagen-bridge; upgrade")
    for number in range(version, SCHEMA_VERSION):
        # one transaction per step: the new tables and the version that says they exist
        db.executescript(
            f"BEGIN;{_MIGRATIONS[number]};"
            f"INSERT OR REPLACE INTO schema_versions VALUES ('{COMPONENT}', {number + 1});COMMIT;"
        )


class Store:
    """Open with :meth:`open`; ``write`` runs an op in the writer's next transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._queue: asyncio.Queue[tuple[Op, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._writer_db: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, data_dir: Path) -> AsyncIterator[Store]:
        store = cls(data_dir / DB_FILE)
        await store._start(data_dir)
        try:
            yield store
        finally:
            await store.close()

    async def _start(self, data_dir: Path) -> None:
        def prepare() -> sqlite3.Connection:
            data_dir.mkdir(parents=True, exist_ok=True)
            db = connect(self.path)
            migrate(db, self.path)
            return db

        try:
            self._writer_db = await asyncio.to_thread(prepare)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"Cannot open the job store {self.path}: {exc}") from exc
        self._task = asyncio.create_task(self._write_loop(), name="job-store-writer")

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._writer_db is not None:
            self._writer_db.close()
            self._writer_db = None
        with self._lock:
            for db in self._readers:
                db.close()
            self._readers.clear()

    async def write(self, op: Op) -> Any:
        """Run ``op(db)`` inside the next group transaction; returns once it is durable."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((op, future))
        return await future

    def write_soon(self, op: Op, then: Callable[[], None] | None = None) -> None:
        """Queue ``op`` without waiting; ``then`` runs on the loop once it is durable."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is None and then is not None:
                then()

        future.add_done_callback(done)
        self._queue.put_nowait((op, future))

    async def _write_loop(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            batch: list[tuple[Op, asyncio.Future[Any]]] = []
            if first is None:
                stop = True
            else:
                batch.append(first)
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                results = await asyncio.to_thread(self._commit, [op for op, _ in batch])
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

    def _commit(self, ops: Sequence[Op]) -> list[Any]:
        """One transaction for all ``ops``; an op that fails is rolled back alone (savepoint)."""
        db = self._writer_db
        assert db is not None
        results: list[Any] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for op in ops:
                db.execute("SAVEPOINT op")
                try:
                    results.append(op(db))
                    db.execute("RELEASE op")
                except Exception as exc:
                    db.execute("ROLLBACK TO op")
                    db.execute("RELEASE op")
                    results.append(exc)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            error = StoreError(f"Cannot write the job store {self.path}: {exc}")
            return [error] * len(ops)
        return results

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            db.row_factory = sqlite3.Row
            # A reader's page cache is dropped whenever the writer commits (WAL), which is
            # all the time while a job runs; the default 2 MB per thread only filled RSS.
            db.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
            self._local.db = db
            with self._lock:
                self._readers.append(db)
        return db

    async def read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``query(db)`` on a reader connection in a worker thread."""
        return await asyncio.to_thread(lambda: query(self._reader()))

    def read_now(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        """The same on the calling thread, for short look-ups by primary key."""
        return query(self._reader())


def dumps(value: Any) -> str:
    """JSON for a column: ASCII, so a path that is not UTF-8 survives as ``\\udcXX`` escapes."""
    return json.dumps(value, separators=(",", ":"))


def to_db(text: str | None) -> str | bytes | None:
    """A path or message for a TEXT column; one holding undecodable bytes goes as a BLOB."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def from_db(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value
