"""``/v1/jobs``: create, list, watch (long poll or Server-Sent Events), cancel, retry, and
hear back what the caller applied. The engine does the work; these only translate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field

from bridge.jobs.models import (
    MAX_PHOTOS,
    AppliedRequest,
    DeliverySpec,
    JobList,
    JobRequest,
    JobState,
    JobView,
    PhotoList,
    PhotoState,
    PhotoView,
    RetryRequest,
)
from bridge.server.operations import (
    SSE_TYPE,
    Call,
    Operation,
    Param,
    RawBody,
    json_body,
    json_response,
)
from bridge.server.state import ENGINE, HEARTBEAT_S, JOB_VIEWS, STOPPING

log = logging.getLogger("bridge.server")

MAX_WAIT_S = 60.0
_Key = Annotated[str, Field(min_length=1, max_length=200)]
_NonNegative = Annotated[int, Field(ge=0)]
_Wait = Annotated[float, Field(ge=0, le=MAX_WAIT_S)]
_PhotoPage = Annotated[int, Field(ge=1, le=MAX_PHOTOS)]


async def _create_job(call: Call) -> web.StreamResponse:
    job, created = await call.app[ENGINE].create(
        *call.body_as(JobRequest).split(), idempotency_key=call.headers["Idempotency-Key"]
    )
    return json_body(call.app[JOB_VIEWS].put(job), 201 if created else 200)


async def _list_jobs(call: Call) -> web.StreamResponse:
    query = call.query
    jobs = await call.app[ENGINE].list_jobs(query["state"], query["limit"], query["before"])
    return json_response(jobs)


async def _get_job(call: Call) -> web.StreamResponse:
    views, job_id, since = call.app[JOB_VIEWS], call.request.match_info["id"], call.query["since"]
    if since is None:
        entry = await views.get(job_id)
    else:
        entry = await views.wait(job_id, since, call.query["wait"])
    return json_body(entry.body)


async def _job_events(call: Call) -> web.StreamResponse:
    engine, job_id = call.app[ENGINE], call.request.match_info["id"]
    await engine.get(job_id)  # an unknown job is a 404, not an empty stream
    response = web.StreamResponse(
        headers={"Content-Type": SSE_TYPE, "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(call.request)
    changes = engine.changes(job_id, call.headers["Last-Event-ID"])
    async for chunk in _stream(changes, call.app[HEARTBEAT_S], call.app[STOPPING]):
        try:
            await response.write(chunk)
        except ConnectionError:
            break  # the client went away
    return response


def _event(revision: int, kind: str, view: BaseModel) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        revision,
        kind.encode(),
        view.model_dump_json().encode("utf-8"),
    )


async def _stream(
    changes: AsyncIterator[tuple[int, str, JobView | PhotoView]],
    heartbeat_s: float,
    stopping: asyncio.Event,
) -> AsyncIterator[bytes]:
    """The events as SSE frames, a heartbeat comment whenever none came for ``heartbeat_s``.

    The engine's iterator is drained by its own task, so a heartbeat never interrupts it.
    When the engine's last event is a photo's, the latest job event is sent again after it:
    clients stop reading once they see the job ended.
    """
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)

    async def pump() -> None:
        last_job: bytes | None = None
        last_kind = ""
        try:
            async for revision, kind, view in changes:
                frame = _event(revision, kind, view)
                last_job, last_kind = (frame if kind == "job" else last_job), kind
                await queue.put(frame)
            if last_kind != "job" and last_job is not None:
                await queue.put(last_job)  # the stream's last word is always the job's state
        except Exception:
            log.exception("event stream of a job broke off")
        finally:
            await queue.put(None)

    pumping = asyncio.create_task(pump())
    stopped = asyncio.create_task(stopping.wait())
    try:
        while True:
            getting = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait(
                (getting, stopped), timeout=heartbeat_s, return_when=asyncio.FIRST_COMPLETED
            )
            if getting not in done:
                getting.cancel()
                if stopped in done:
                    return
                yield b": heartbeat\n\n"
                continue
            frame = getting.result()
            if frame is None:
                return
            yield frame
    finally:
        stopped.cancel()
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping


async def _job_photos(call: Call) -> web.StreamResponse:
    query = call.query
    photos = await call.app[ENGINE].photos(
        call.request.match_info["id"],
        query["state"],
        settings=query["settings"],
        after=query["after"],
        limit=query["limit"],
    )
    return json_response(photos)


async def _cancel_job(call: Call) -> web.StreamResponse:
    job = await call.app[ENGINE].cancel(call.request.match_info["id"])
    return json_body(call.app[JOB_VIEWS].put(job))


async def _retry_job(call: Call) -> web.StreamResponse:
    body = call.optional_body_as(RetryRequest)
    indexes = body.photos if body is not None else None
    job = await call.app[ENGINE].retry(call.request.match_info["id"], indexes)
    return json_body(call.app[JOB_VIEWS].put(job))


async def _report_applied(call: Call) -> web.StreamResponse:
    engine, job_id = call.app[ENGINE], call.request.match_info["id"]
    photos = await engine.applied(job_id, call.body_as(AppliedRequest))
    call.app[JOB_VIEWS].put(await engine.get(job_id))  # the job's revision moved too
    return json_response(photos)


async def _deliver_job(call: Call) -> web.StreamResponse:
    job = await call.app[ENGINE].deliver(call.request.match_info["id"], call.body_as(DeliverySpec))
    return json_body(call.app[JOB_VIEWS].put(job), 202)


_JOB = "/v1/jobs/{id}"
_EVENT_STREAM = RawBody(
    SSE_TYPE,
    {
        "type": "string",
        "description": "Events `job` and `photo` (id: the revision; data: a Job or Photo, as "
        "GET /v1/jobs/{id} and GET /v1/jobs/{id}/photos show them) and `: heartbeat` comments.",
    },
)

OPERATIONS = (
    Operation(
        "POST", "/v1/jobs", _create_job, "Start a job (201), or get the one its key made (200)",
        responses={201: JobView, 200: JobView}, errors=(409, 413, 415, 422), body=JobRequest,
        headers=(Param("Idempotency-Key", _Key | None, "The same key and body: the same job."),),
        tags=("jobs",),
    ),
    Operation(
        "GET", "/v1/jobs", _list_jobs, "Jobs, newest first",
        responses={200: JobList},
        query=(
            Param("state", JobState, "Only jobs in these states (repeatable).", repeated=True),
            Param("limit", Annotated[int, Field(ge=1, le=500)], "Jobs per page.", 50),
            Param("before", _Key | None, "Jobs older than this one (the `next` of a page)."),
        ),
        tags=("jobs",),
    ),
    Operation(
        "GET", _JOB, _get_job, "A job; with `since`, a long poll for its next change",
        responses={200: JobView}, errors=(404,),
        query=(
            Param("since", int | None, "Answer once the job's revision is above this."),
            Param("wait", _Wait, "The longest wait, in seconds.", 25.0),
        ),
        tags=("jobs",),
    ),
    Operation(
        "GET", f"{_JOB}/events", _job_events, "The job's changes as Server-Sent Events",
        responses={200: _EVENT_STREAM}, errors=(404,),
        headers=(Param("Last-Event-ID", _NonNegative | None, "Resume after this revision."),),
        tags=("jobs",),
    ),
    Operation(
        "GET", f"{_JOB}/photos", _job_photos, "The job's photos, with develop settings when ready",
        responses={200: PhotoList}, errors=(404,),
        query=(
            Param("state", PhotoState, "Only photos in these states (repeatable).", repeated=True),
            Param("settings", bool, "Include develop_settings.", True),
            Param("after", _NonNegative | None, "Photos after this index (a page's `next`)."),
            Param("limit", _PhotoPage | None, "Photos per page (without it: every photo)."),
        ),
        tags=("jobs",),
    ),
    Operation(
        "POST", f"{_JOB}/cancel", _cancel_job, "Stop the job; photos not yet ready are canceled",
        responses={200: JobView}, errors=(404, 413, 415), tags=("jobs",),
    ),
    Operation(
        "POST", f"{_JOB}/retry", _retry_job, "Queue failed and canceled (or named) photos again",
        responses={200: JobView}, errors=(404, 409, 413, 415, 422), body=RetryRequest,
        body_required=False, tags=("jobs",),
    ),
    Operation(
        "POST", f"{_JOB}/applied", _report_applied, "Report which photos the caller applied",
        responses={200: PhotoList}, errors=(404, 413, 415, 422), body=AppliedRequest,
        tags=("jobs",),
    ),
    Operation(
        "POST", f"{_JOB}/deliver", _deliver_job, "Deliver an ended job's exported JPEGs",
        responses={202: JobView}, errors=(404, 409, 413, 415, 422), body=DeliverySpec,
        tags=("jobs",),
    ),
)  # fmt: skip
