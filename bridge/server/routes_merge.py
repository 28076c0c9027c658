"""``POST /v1/merge``, ``POST /v1/undo``, ``GET /v1/merges``: the merge command over HTTP.

The same planning, journal and JSON as ``imagen-bridge merge --json``/``undo --json``.
Merging is blocking file work and CPU, so it runs in a worker thread, one merge or undo
at a time (they share the journal and may touch the same folders).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from aiohttp import web

from bridge.server.errors import ApiError, ErrorDetail, conflict, not_found, validation_failed
from bridge.server.models import MergeList, MergeRequest, UndoRequest
from bridge.server.operations import Call, Operation, json_response
from bridge.server.state import SETTINGS
from bridge.xmp.batch import apply_plan, collect_sources, plan_merge, preview_plan
from bridge.xmp.errors import XmpError
from bridge.xmp.journal import Journal
from bridge.xmp.reports import (
    MergeResult,
    UndoResult,
    merge_result,
    merge_summary,
    shown,
    undo_result,
)

MERGE_LOCK = web.AppKey("merge_lock", asyncio.Lock)


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
    """Plan and apply (or preview) one merge; bad paths are 422s naming the field."""
    into = Path(request.into)
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
        files = collect_sources(Path(source) for source in request.sources)
    except OSError as exc:
        raise _invalid("sources", shown(exc)) from exc
    if not files:
        raise _invalid("sources", "no .xmp files found in the given sources")
    try:
        plan = plan_merge(files, into, recursive=request.recursive, naming=request.naming)
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
    request = call.body_as(MergeRequest)
    async with call.app[MERGE_LOCK]:
        result = await asyncio.to_thread(run_merge, request, call.app[SETTINGS].data_dir)
    return json_response(result)


async def _undo(call: Call) -> web.StreamResponse:
    request = call.body_as(UndoRequest)
    async with call.app[MERGE_LOCK]:
        result = await asyncio.to_thread(run_undo, request, call.app[SETTINGS].data_dir)
    return json_response(result)


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
