"""``POST /v1/merge``, ``POST /v1/undo``, ``GET /v1/merges``: the merge command over HTTP.

The same planning, journal and JSON as ``imagen-bridge merge --json``/``undo --json``.
Merging is file work and a lot of CPU-bound Python, so it runs in a worker process at a
lower priority, one merge or undo at a time (they share the journal and may touch the same
folders): a thread would hold the GIL for seconds and stall every other request. In that
single-threaded worker a big batch also forks its own mergers, as the CLI does.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from bridge.server.errors import ApiError, ErrorDetail, conflict, not_found, validation_failed
from bridge.server.models import MergeRequest, UndoRequest
from bridge.server.operations import Call, Operation, json_body, json_response
from bridge.server.state import SETTINGS
from bridge.workers import follow_parent
from bridge.xmp.batch import apply_plan, plan_merge, preview_plan
from bridge.xmp.errors import XmpError
from bridge.xmp.journal import Journal
from bridge.xmp.reports import (
    MergeList,
    MergeResult,
    UndoResult,
    merge_result,
    merge_summary,
    shown,
    undo_result,
)
from bridge.xmp.sources import SourceError, find_sources


class MergeWorker:
    """One worker process, started with the server and kept for every merge."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the process now (blocking: call it off the event loop), not at the first
        merge, so no request waits for it."""
        # spawn, not fork (this process has threads) nor forkserver (its server process
        # outlives a killed parent, holding the parent's stdout and stderr)
        self._pool = ProcessPoolExecutor(
            1, mp_context=mp.get_context("spawn"), initializer=follow_parent
        )
        self._pool.submit(os.getpid).result()

    async def run(
        self, function: Callable[[M, Path], BaseModel], request: M, data_dir: Path
    ) -> bytes:
        """``function(request, data_dir)`` in the worker, its result as JSON (serialized there:
        a 2,000-file report is megabytes of work the event loop should not do)."""
        async with self._lock:
            if self._pool is None:
                await asyncio.to_thread(self.start)
            assert self._pool is not None
            loop = asyncio.get_running_loop()
            job = functools.partial(_as_json, function, request, data_dir)
            return await loop.run_in_executor(self._pool, job)

    def close(self) -> None:
        """Stop the worker once the merge it may be running is done (it is journaled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _as_json(function: Callable[[M, Path], BaseModel], request: M, data_dir: Path) -> bytes:
    return function(request, data_dir).model_dump_json().encode("utf-8")


MERGE_WORKER = web.AppKey("merge_worker", MergeWorker)


M = TypeVar("M", bound=BaseModel)


def _invalid(path: str, message: str) -> ApiError:
    return validation_failed([ErrorDetail(path=path, message=message)])


def _journal_error(exc: XmpError) -> ApiError:
    return ApiError(500, "internal_error", shown(exc))


def _path_problem(field: str, path: Path, *, folder: bool) -> ErrorDetail | None:
    try:
        if folder and not path.is_dir():
            return ErrorDetail(path=field, message="is not a folder")
        if not folder and not path.exists():
            return ErrorDetail(path=field, message="does not exist")
    except OSError as exc:
        return ErrorDetail(path=field, message=f"cannot be read: {exc.strerror or exc}")
    return None


def run_merge(request: MergeRequest, data_dir: Path) -> MergeResult:
    """Plan and apply (or preview) one merge, finding the sources as ``merge`` does (with
    ``recursive``, in source subfolders too); bad paths are 422s naming the field."""
    into, recursive = Path(request.into), request.recursive
    problems = [
        problem
        for field, path, folder in [
            ("into", into, True),
            *((f"sources.{i}", Path(source), False) for i, source in enumerate(request.sources)),
        ]
        if (problem := _path_problem(field, path, folder=folder)) is not None
    ]
    if problems:
        raise validation_failed(problems)
    try:
        files = find_sources(
            [Path(source) for source in request.sources],
            recursive=recursive,
            deeper_hint='set "recursive": true',
        )
    except SourceError as exc:
        raise _invalid("sources", str(exc)) from exc
    try:
        plan = plan_merge(files, into, recursive=recursive, naming=request.naming)
    except XmpError as exc:
        raise _invalid("into", shown(exc)) from exc
    now = datetime.now().astimezone()
    if request.dry_run:
        return merge_result(plan, preview_plan(plan, now))
    try:
        with Journal(data_dir) as journal:
            return merge_result(plan, apply_plan(plan, journal, now))
    except XmpError as exc:
        raise _journal_error(exc) from exc


def run_undo(request: UndoRequest, data_dir: Path) -> UndoResult:
    """Undo one merge: 404 when there is no such merge, 409 when it is already undone."""
    try:
        with Journal(data_dir) as journal:
            merges = journal.merges()
            if request.last:
                if not merges:
                    raise not_found("there are no merges to undo")
                target = merges[0]
            else:
                found = [m for m in merges if m.merge_id == request.merge_id]
                if not found:
                    raise not_found(f"there is no merge {request.merge_id!r} in the journal")
                target = found[0]
            if target.undone_at is not None:
                raise conflict(
                    f"merge {target.merge_id} was already undone on {target.undone_at.isoformat()}"
                )
            return undo_result(journal.undo(target.merge_id, now=datetime.now().astimezone()))
    except XmpError as exc:
        raise _journal_error(exc) from exc


def list_merges(data_dir: Path) -> MergeList:
    try:
        with Journal(data_dir) as journal:
            return MergeList(merges=[merge_summary(m) for m in journal.merges()])
    except XmpError as exc:
        raise _journal_error(exc) from exc


async def _merge(call: Call) -> web.StreamResponse:
    worker, data_dir = call.app[MERGE_WORKER], call.app[SETTINGS].data_dir
    return json_body(await worker.run(run_merge, call.body_as(MergeRequest), data_dir))


async def _undo(call: Call) -> web.StreamResponse:
    worker, data_dir = call.app[MERGE_WORKER], call.app[SETTINGS].data_dir
    return json_body(await worker.run(run_undo, call.body_as(UndoRequest), data_dir))


async def _merges(call: Call) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(list_merges, call.app[SETTINGS].data_dir))


OPERATIONS = (
    Operation(
        "POST", "/v1/merge", _merge, "Merge Imagen sidecars into the sidecars next to raws",
        responses={200: MergeResult}, errors=(400, 415, 413, 422), body=MergeRequest,
        tags=("merge",),
    ),
    Operation(
        "POST", "/v1/undo", _undo, "Undo a merge byte for byte",
        responses={200: UndoResult}, errors=(400, 404, 409, 413, 415, 422), body=UndoRequest,
        tags=("merge",),
    ),
    Operation(
        "GET", "/v1/merges", _merges, "The merges that can be undone, newest first",
        responses={200: MergeList}, tags=("merge",),
    ),
)  # fmt: skip
