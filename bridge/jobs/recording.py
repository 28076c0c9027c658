"""What the runner's checkpoints become in the job store, and how a project is restored.

Each hook of :class:`~bridge.jobs.checkpoint.Checkpoint` is one small write:
durable (awaited) where a restart must not repeat the step, queued where a
lost record only costs a little repeated work. Photos move through their
states here as their project moves through its steps.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from bridge.imagen import MultipartUpload
from bridge.jobs.book import JobBook, revise
from bridge.jobs.checkpoint import Checkpoint, OpenUpload
from bridge.jobs.events import PhotoFinished, PhotoStatus
from bridge.jobs.flows import Step
from bridge.jobs.plan import ImageKind, Photo, PlannedProject, collision_key
from bridge.jobs.runner import ProjectState
from bridge.jobs.store import dumps, to_db


def restore(
    project: PlannedProject, row: sqlite3.Row, members: Sequence[tuple[sqlite3.Row, Photo]]
) -> ProjectState:
    """The state a previous run recorded for ``project``."""
    state = ProjectState(project, uuid=row["uuid"])
    for photo_row, photo in members:
        if photo_row["state"] == "failed":
            state.errors[photo.path] = photo_row["reason"] or "failed"
            state.finished.add(photo.path)
        elif photo_row["uploaded"]:
            state.uploaded.append(photo)
        if outputs := json.loads(photo_row["outputs"]):
            state.outputs[photo.path] = [Path(p) for p in outputs]
        if exports := json.loads(photo_row["exports"]):
            state.exports[photo.path] = [Path(p) for p in exports]
    for step in ("edit", "export"):
        if row[step] != "none":
            state.steps[step] = row[step]
    state.edit_details = row["edit_details"]
    state.done_files = set(json.loads(row["done_files"]))
    state.extras = [Path(p) for p in json.loads(row["extras"])]
    return state


class StoreCheckpoint(Checkpoint):
    """Makes each step of one job's projects durable, and moves its photos through states.

    It knows the photos of the projects running now (:meth:`track`, :meth:`untrack`), not
    all of the job's: a job of 20,000 photos holds a few projects' worth.
    """

    def __init__(self, engine: JobBook, job_id: str, *, merge: bool) -> None:
        self.engine = engine
        self.job_id = job_id
        self.merge = merge  # edited raws go on to "merging" (their sidecars), else "ready"
        self.photos: dict[Path, int] = {}  # photo path -> index in the job
        self._uploads: dict[int, OpenUpload] = {}
        self._names: dict[tuple[int, str], int] = {}
        self._members: dict[int, list[int]] = {}
        self._in_flight: set[Path] = set()

    async def track(self, state: ProjectState, indexes: Sequence[int]) -> None:
        """Start recording for the project of ``state`` (its photos' job indexes, in order):
        the files a previous run was sending and its open multipart uploads come back."""
        project = state.project.index
        members = list(indexes)
        self._members[project] = members
        for photo, index in zip(state.project.photos, members, strict=True):
            self.photos[photo.path] = index
            self._names[(project, photo.name)] = index
        by_index = dict(zip(members, state.project.photos, strict=True))
        job_id = self.job_id

        def load(db: sqlite3.Connection) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
            flying = db.execute(
                "SELECT idx FROM photos WHERE job_id = ? AND project = ? AND sending = 1"
                " AND uploaded = 0",
                (job_id, project),
            ).fetchall()
            uploads = db.execute(
                "SELECT u.* FROM uploads u JOIN photos p ON p.job_id = u.job_id AND"
                " p.idx = u.photo_idx WHERE u.job_id = ? AND p.project = ?",
                (job_id, project),
            ).fetchall()
            return flying, uploads

        flying, uploads = await self.engine.store.read(load)
        self._in_flight.update(by_index[r[0]].path for r in flying if r[0] in by_index)
        for row in uploads:
            upload = MultipartUpload.model_validate(
                {"upload_id": row["upload_id"], "key": row["key"], "parts": json.loads(row["urls"])}
            )
            done = frozenset(json.loads(row["done_parts"]))
            self._uploads[row["photo_idx"]] = OpenUpload(upload, row["part_size"], done)

    def untrack(self, state: ProjectState) -> None:
        """The project has ended (or stopped): forget its photos."""
        project = state.project.index
        for index in self._members.pop(project, []):
            self._uploads.pop(index, None)
        for photo in state.project.photos:
            self.photos.pop(photo.path, None)
            self._names.pop((project, photo.name), None)
            self._in_flight.discard(photo.path)

    def index_of_name(self, project: int, name: str) -> int | None:
        return self._names.get((project, name))

    async def _project(self, project: int, sql: str, params: Sequence[Any]) -> None:
        job_id = self.job_id
        await self.engine.store.write(
            lambda db: db.execute(
                f"UPDATE projects SET {sql} WHERE job_id = ? AND idx = ?",
                (*params, job_id, project),
            )
        )

    async def created(self, project: int, uuid: str) -> None:
        await self._project(project, "uuid = ?", (uuid,))

    async def landing(self, photo: Photo) -> None:
        await self.engine.store.write(self._sending(photo, True))

    def not_landed(self, photo: Photo) -> None:
        self._in_flight.discard(photo.path)  # no longer in doubt: a later try starts afresh
        self.engine.store.write_soon(self._sending(photo, False))

    def _sending(self, photo: Photo, sending: bool) -> Callable[[sqlite3.Connection], None]:
        """Bookkeeping for a restart, no news for the job's watchers: no new revision."""
        job_id, index = self.job_id, self.photos[photo.path]

        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE photos SET sending = ? WHERE job_id = ? AND idx = ?",
                (int(sending), job_id, index),
            )

        return op

    def in_flight(self) -> AbstractSet[Path]:
        return self._in_flight

    async def uploaded(self, photo: Photo) -> None:
        await self.engine._photo_update(
            self.job_id, self.photos[photo.path], "uploaded = 1, sending = 0, state = 'editing'", ()
        )

    def failed(self, photo: Photo, reason: str) -> None:
        self.engine._photo_update_soon(
            self.job_id, self.photos[photo.path], "state = 'failed', reason = ?", (to_db(reason),)
        )

    async def step(self, project: int, step: Step, stage: str, details: str | None = None) -> None:
        if stage == "reset":
            job_id = self.job_id

            def reset(db: sqlite3.Connection) -> None:
                db.execute(
                    "UPDATE projects SET uuid = NULL, edit = 'none', export = 'none',"
                    " edit_details = NULL, done_files = '[]', extras = '[]'"
                    " WHERE job_id = ? AND idx = ?",
                    (job_id, project),
                )
                db.execute(
                    "UPDATE photos SET uploaded = 0, sending = 0, state = 'queued', outputs = '[]',"
                    " exports = '[]'"
                    " WHERE job_id = ? AND project = ? AND state != 'failed'",
                    (job_id, project),
                )

            await self.engine.store.write(reset)
            return
        if step == "edit" and stage == "done":
            await self._project(project, "edit = ?, edit_details = ?", (stage, details))
        else:
            await self._project(project, f"{step} = ?", (stage,))

    async def downloaded(
        self, project: int, step: Step, name: str, photo: Photo | None, path: Path
    ) -> None:
        job_id = self.job_id
        key = f"{step}/{collision_key(name)}"
        column = "exports" if step == "export" else "outputs"
        index = self.photos[photo.path] if photo is not None else None

        def record(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE projects SET done_files = json_insert(done_files, '$[#]', json(?))"
                + (", extras = json_insert(extras, '$[#]', json(?))" if index is None else "")
                + " WHERE job_id = ? AND idx = ?",
                (dumps(key), *(() if index is not None else (dumps(str(path)),)), job_id, project),
            )
            if index is not None:
                db.execute(
                    f"UPDATE photos SET {column} = json_insert({column}, '$[#]', json(?))"
                    " WHERE job_id = ? AND idx = ?",
                    (dumps(str(path)), job_id, index),
                )

        await self.engine.store.write(record)

    async def upload_opened(self, photo: Photo, upload: OpenUpload) -> None:
        job_id, index = self.job_id, self.photos[photo.path]
        parts = [part.model_dump(mode="json") for part in upload.upload.parts]
        self._uploads[index] = upload
        await self.engine.store.write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO uploads (job_id, photo_idx, upload_id, key, part_size,"
                " urls, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    index,
                    upload.upload.upload_id,
                    upload.upload.key,
                    upload.part_size,
                    dumps(parts),
                    time.time(),
                ),
            )
        )

    def part_done(self, photo: Photo, number: int) -> None:
        job_id, index = self.job_id, self.photos[photo.path]
        self.engine.store.write_soon(
            lambda db: db.execute(
                "UPDATE uploads SET done_parts = json_insert(done_parts, '$[#]', ?)"
                " WHERE job_id = ? AND photo_idx = ?",
                (number, job_id, index),
            )
        )

    async def upload_sent(self, photo: Photo, parts: int) -> None:
        job_id, index = self.job_id, self.photos[photo.path]

        def sent(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE uploads SET done_parts = ? WHERE job_id = ? AND photo_idx = ?",
                (dumps(list(range(1, parts + 1))), job_id, index),
            )
            db.execute(
                "UPDATE photos SET sending = 1 WHERE job_id = ? AND idx = ?", (job_id, index)
            )

        await self.engine.store.write(sent)

    async def upload_closed(self, photo: Photo) -> None:
        job_id, index = self.job_id, self.photos[photo.path]
        self._uploads.pop(index, None)
        await self.engine.store.write(
            lambda db: db.execute(
                "DELETE FROM uploads WHERE job_id = ? AND photo_idx = ?", (job_id, index)
            )
        )

    def open_upload(self, photo: Photo) -> OpenUpload | None:
        return self._uploads.get(self.photos[photo.path])

    def keeps_open_uploads(self) -> bool:
        live = self.engine._live.get(self.job_id)
        return not (live is not None and live.canceled)

    def phase(self, project: int, phase: str) -> None:
        """Photos of ``project`` move on with it: upload, then (after the edit) download."""
        moves = {"upload": ("queued", "uploading"), "download": ("editing", "downloading")}
        if phase not in moves:
            return
        before, after = moves[phase]
        job_id = self.job_id
        members = self._members.get(project, [])

        def move(db: sqlite3.Connection) -> None:
            revision = revise(db, job_id)
            db.executemany(
                "UPDATE photos SET state = ?, revision = ? WHERE job_id = ? AND idx = ?"
                " AND state = ?",
                [(after, revision, job_id, i, before) for i in members],
            )

        self.engine.store.write_soon(move, then=lambda: self.engine._changed(job_id))

    def photo_finished(self, event: PhotoFinished) -> None:
        result = event.result
        index = self.photos[result.photo.path]
        if result.status is not PhotoStatus.EDITED:
            return  # failures were recorded by failed(); a cancel is recorded by the engine
        outputs = [str(p) for p in result.outputs]
        merge = (
            self.merge
            and result.photo.kind is ImageKind.RAW
            and not result.photo.is_dng
            and any(o.lower().endswith(".xmp") for o in outputs)
        )
        hdr = next((o for o in outputs if o.lower().endswith("_hdr.dng")), None)
        self.engine._photo_update_soon(
            self.job_id,
            index,
            "state = ?, outputs = ?, exports = ?, hdr_output = ?",
            (
                "merging" if merge else "ready",
                dumps(outputs),
                dumps([str(p) for p in result.exports]),
                to_db(hdr),
            ),
        )
