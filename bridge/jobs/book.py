"""The record of jobs: views of them, long polls, and the changes any process may make.

A :class:`JobBook` reads and writes the job store without driving jobs (the
``jobs`` commands use one); :class:`~bridge.jobs.engine.JobEngine` adds the
driving. Every change takes the job's next ``revision`` inside its own
transaction and wakes long polls and event streams once it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from bridge.jobs.errors import JobConflict, JobNotFound, JobRequestError
from bridge.jobs.models import (
    AppliedRequest,
    Counts,
    DeliveryView,
    JobError,
    JobList,
    JobSpec,
    JobState,
    JobView,
    PhotoList,
    PhotoState,
    PhotoView,
    SidecarResult,
)
from bridge.jobs.results import develop_settings_of
from bridge.jobs.store import Store, from_db
from bridge.settings import Settings

HOUSEKEEPING_S = 2.0
"""How often an engine renews its leases and looks for cancels asked by other processes."""
ENDED_PHOTO = tuple(state.value for state in PhotoState if state.ended)
PHOTO_COLUMNS = (
    "job_id, idx, caller_id, path, kind, size, project, state, reason, revision, uploaded, "
    "bytes_done, outputs, exports, sidecar, hdr_output, applied_at, apply_error"
)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_job_id() -> str:
    return f"j-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def pid_alive(owner: str | None) -> bool:
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


def revise(db: sqlite3.Connection, job_id: str) -> int:
    """The job's next revision, taken inside the transaction that makes the change.

    Taken in SQL, not in memory, so two processes writing one job (a cancel asked for
    from the command line) never reuse or lower a revision.
    """
    row = db.execute(
        "UPDATE jobs SET revision = revision + 1, updated_at = ? WHERE id = ? RETURNING revision",
        (now_text(), job_id),
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass
class Live:
    """What the engine keeps in memory for a job it drives or watches."""

    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    canceled: bool = False
    bytes: dict[int, int] = field(default_factory=dict)  # photo index -> bytes sent
    bytes_flushed: float = 0.0


class JobBook:
    """Jobs as the store holds them; safe to use from the event loop."""

    def __init__(self, settings: Settings, store: Store, *, logger: logging.Logger) -> None:
        self.settings = settings
        self.store = store
        self.log = logger
        self.owner = f"{os.getpid()}:{secrets.token_hex(4)}"
        self._live: dict[str, Live] = {}
        self._requests: dict[str, dict[str, Any]] = {}

    @staticmethod
    def request_of(stored: dict[str, Any]) -> JobSpec:
        """How a job was asked to edit; its photos are the store's rows (a 20,000-photo list
        in the job's row would be rewritten with every revision; older stores kept one)."""
        return JobSpec.model_validate({k: v for k, v in stored.items() if k != "photos"})

    def _settings_of(self, job_id: str, text: str) -> dict[str, Any]:
        """The request less its photos (immutable, so parsed once: it may list 20,000)."""
        found = self._requests.get(job_id)
        if found is None:
            request = json.loads(text)
            found = {k: v for k, v in request.items() if k not in ("photos", "out_dir", "label")}
            self._requests[job_id] = found
        return found

    @classmethod
    @contextlib.asynccontextmanager
    async def open_book(
        cls, settings: Settings, *, logger: logging.Logger | None = None
    ) -> AsyncIterator[JobBook]:
        """The store alone: no Imagen, no transfers (for looking at and steering jobs)."""
        async with Store.open(settings.data_dir) as store:
            yield cls(settings, store, logger=logger or logging.getLogger("bridge.jobs"))

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
            bytes_done += self._memory_bytes(db, job_id, live)
        request = self._settings_of(job_id, row["request"])
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
            request=request,
        )

    @staticmethod
    def _memory_bytes(db: sqlite3.Connection, job_id: str, live: Live) -> int:
        """Bytes sent beyond what the store holds yet (only the files sending now are here)."""
        sending = dict(live.bytes)
        stored = db.execute(
            "SELECT idx, CASE WHEN uploaded THEN size ELSE bytes_done END FROM photos"
            " WHERE job_id = ? AND idx IN (SELECT value FROM json_each(?))",
            (job_id, json.dumps(list(sending))),
        )
        return sum(max(0, sending[index] - done) for index, done in stored)

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
        await self.get(job_id)  # JobNotFound before anything is kept for an unknown id
        while True:
            live = self._live.setdefault(job_id, Live())
            event = live.changed
            view = await self.get(job_id)
            left = deadline - time.monotonic()
            if view.revision > since or left <= 0:
                return view
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await event.wait()

    def _photo_view(
        self, row: sqlite3.Row, *, settings: bool, deliveries: Sequence[DeliveryView] = ()
    ) -> PhotoView:
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
            deliveries=list(deliveries),
        )

    async def photos(
        self,
        job_id: str,
        states: Sequence[PhotoState] = (),
        settings: bool = True,
        since: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> PhotoList:
        """The job's photos in index order; ``after`` and ``limit`` page through them."""

        def query(db: sqlite3.Connection) -> PhotoList:
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(f"No job {job_id!r}")
            sql = f"SELECT {PHOTO_COLUMNS} FROM photos WHERE job_id = ?"
            params: list[Any] = [job_id]
            if states:
                sql += f" AND state IN ({','.join('?' * len(states))})"
                params += [s.value for s in states]
            if since is not None:
                sql += " AND revision > ?"
                params.append(since)
            if after is not None:
                sql += " AND idx > ?"
                params.append(after)
            sql += " ORDER BY idx"
            if limit is not None:
                sql += " LIMIT ?"
                params.append(limit)
            rows = db.execute(sql, params).fetchall()
            delivered: dict[int, list[DeliveryView]] = {}
            if rows:  # those of this page's photos only
                for index, result in db.execute(
                    "SELECT photo_idx, result FROM deliveries WHERE job_id = ?"
                    " AND photo_idx BETWEEN ? AND ? ORDER BY target",
                    (job_id, rows[0]["idx"], rows[-1]["idx"]),
                ):
                    delivered.setdefault(index, []).append(DeliveryView.model_validate_json(result))
            full = limit is not None and len(rows) == limit
            return PhotoList(
                photos=[
                    self._photo_view(r, settings=settings, deliveries=delivered.get(r["idx"], ()))
                    for r in rows
                ],
                next=rows[-1]["idx"] if full else None,
            )

        result: PhotoList = await self.store.read(query)
        return result

    async def changes(
        self, job_id: str, since: int | None
    ) -> AsyncIterator[tuple[int, str, JobView | PhotoView]]:
        """The job as it is, then in revision order: photos changed since ``since`` and live
        changes, each change's photos before its job event; ends after the job has ended.

        Revision order (after the first event) lets a client resume from the last id it saw
        without missing a change.
        """
        view = await self.get(job_id)
        yield view.revision, "job", view
        seen, ceiling, first = since, view.revision, True
        while True:
            photos = await self.photos(job_id, settings=False, since=seen)
            due = sorted(
                (p for p in photos.photos if p.revision <= ceiling), key=lambda p: p.revision
            )
            for photo in due:
                yield photo.revision, "photo", photo
            if not first and (view.revision > (seen or 0) or view.state.ended):
                yield view.revision, "job", view
            first, seen = False, ceiling
            if view.state.ended:
                return
            view = await self.wait(job_id, seen, 15.0)
            ceiling = view.revision

    async def cancel(self, job_id: str) -> JobView:
        """Cancel a job this process does not drive: ask its owner, or end it if it has none."""
        view = await self.get(job_id)
        if view.state.ended:
            return view
        owner = await self.store.read(
            lambda db: db.execute("SELECT lease_owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
        )
        if owner[0] and pid_alive(owner[0]):
            await self._job_update(job_id, "cancel_requested = 1")
            deadline = time.monotonic() + 3 * HOUSEKEEPING_S
            while not view.state.ended and time.monotonic() < deadline:
                view = await self.wait(job_id, view.revision, HOUSEKEEPING_S / 4)
            return view
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
                if r[1] in ("failed", "canceled") and (wanted is None or r[0] in wanted)
            ]
            revision = revise(db, job_id)
            db.executemany(
                "UPDATE photos SET state = 'queued', reason = NULL, project = NULL, uploaded = 0,"
                " sending = 0,"
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
            self._live.setdefault(job_id, Live()).canceled = False
            self._requeued(job_id)
        return await self.get(job_id)

    def _requeued(self, job_id: str) -> None:
        """A retried job is queued again; an engine starts it, a book leaves it to one."""

    async def applied(self, job_id: str, report: AppliedRequest) -> PhotoList:
        await self.get(job_id)
        now = now_text()

        def record(db: sqlite3.Connection) -> None:
            revision = revise(db, job_id)
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
                (*params, revise(db, job_id), job_id, index),
            )

        return op

    async def _job_update(self, job_id: str, sql: str, params: Sequence[Any] = ()) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute(f"UPDATE jobs SET {sql} WHERE id = ?", (*params, job_id))
            revise(db, job_id)

        await self.store.write(op)
        self._changed(job_id)

    async def _end(self, job_id: str, state: JobState, error: tuple[str, str] | None) -> None:
        code, message = error or (None, None)
        await self._job_update(
            job_id,
            "state = ?, finished_at = ?, error_code = ?, error_message = ?",
            (state.value, now_text(), code, message),
        )

    async def _end_canceled(self, job_id: str) -> None:
        now = now_text()

        def cancel(db: sqlite3.Connection) -> None:
            revision = revise(db, job_id)
            db.execute(
                "UPDATE photos SET state = 'canceled', reason = 'canceled', revision = ?"
                f" WHERE job_id = ? AND state NOT IN ({','.join('?' * len(ENDED_PHOTO))})",
                (revision, job_id, *ENDED_PHOTO),
            )
            db.execute(
                "UPDATE jobs SET state = 'canceled', finished_at = ?, cancel_requested = 0"
                " WHERE id = ?",
                (now, job_id),
            )

        await self.store.write(cancel)
        self._changed(job_id)
