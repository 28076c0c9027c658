"""Smart Editing (I2I) under ``/v1/i2i/projects``: JPEG in, edited JPEG out, multipart uploads.

The project's own ``status`` is the status source (Pending -> In Progress -> Completed/Failed);
there is no export step. Like the real service, starting an edit with nothing uploaded is a 500.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bridge.emulator import processing
from bridge.emulator.catalog import image_type_of
from bridge.emulator.envelope import reply
from bridge.emulator.objectstore import MAX_PARTS, StoreError
from bridge.emulator.options import parse_i2i_edit_request
from bridge.emulator.projects import IN_PROGRESS, PENDING, Multipart, Project
from bridge.emulator.routes_common import (
    create_project,
    download_links,
    finished_outcome,
    list_projects,
    origin,
    project_json,
    query_file_name,
    single_download_link,
    single_upload_link,
    upload_links,
    uploaded_names,
)
from bridge.emulator.state import state_of
from bridge.emulator.validation import (
    ApiError,
    check_file_name,
    optional_int,
    parse_files_list,
    read_json_object,
    required_str,
)

routes = web.RouteTableDef()


def _project(request: web.Request) -> Project:
    return state_of(request).projects.get("i2i", request.match_info["uuid"])


def _require_jpegs(names: list[str]) -> None:
    wrong = [name for name in names if image_type_of(name) != "JPG"]
    if wrong:
        raise ApiError(400, f"Smart Editing accepts JPEG files only: {wrong[:20]}")


@routes.post("/v1/i2i/projects/")
async def create(request: web.Request) -> web.Response:
    return await create_project(request, "i2i")


@routes.get("/v1/i2i/projects")
async def list_all(request: web.Request) -> web.Response:
    return list_projects(request, "i2i")


@routes.get("/v1/i2i/projects/is_valid_name")
async def is_valid_name(request: web.Request) -> web.Response:
    name = request.query.get("name")
    if name is None:
        raise ApiError(400, "Query parameter 'name' is required.")
    taken = any(p.family == "i2i" and p.name == name for p in state_of(request).projects.all())
    valid = bool(name.strip()) and len(name) <= 255 and not taken
    return reply(request, {"is_valid": valid})


@routes.get("/v1/i2i/projects/{uuid}")
async def get_project(request: web.Request) -> web.Response:
    project = _project(request)
    if project.edit is not None:
        await project.edit.settle(state_of(request).now())
    return reply(request, project_json(request, project))


@routes.post("/v1/i2i/projects/{uuid}/get_temporary_upload_links")
async def get_upload_links(request: web.Request) -> web.Response:
    project = _project(request)
    body = await read_json_object(request)
    files = parse_files_list(body)
    _require_jpegs([name for name, _ in files])
    return upload_links(request, project, files)


@routes.get("/v1/i2i/projects/{uuid}/get_upload_link")
async def get_upload_link(request: web.Request) -> web.Response:
    project = _project(request)
    name = query_file_name(request)
    _require_jpegs([name])
    project.files.setdefault(name, None)
    return single_upload_link(request, project.upload_key(name), name)


@routes.post("/v1/i2i/projects/{uuid}/multipart_uploads")
async def create_multipart(request: web.Request) -> web.Response:
    state = state_of(request)
    project = _project(request)
    body = await read_json_object(request)
    name = check_file_name(body.get("file_name"))
    _require_jpegs([name])
    part_count = optional_int(body, "part_count")
    if part_count is None or not 1 <= part_count <= MAX_PARTS:
        raise ApiError(400, f"part_count must be an integer from 1 to {MAX_PARTS}.")
    if project.running(state.now()):
        raise ApiError(409, "Cannot add files while the project is being processed.")
    key = project.upload_key(name)
    upload_id = state.store.create_multipart(key)
    project.multiparts[upload_id] = Multipart(upload_id, name, key)
    parts = [
        {
            "part_number": number,
            "upload_url": state.store.presign_part(upload_id, number, origin=origin(request)),
        }
        for number in range(1, part_count + 1)
    ]
    return reply(request, {"upload_id": upload_id, "key": key, "parts": parts})


def _multipart(request: web.Request, project: Project) -> Multipart:
    upload = project.multiparts.get(request.match_info["upload_id"])
    if upload is None:
        raise ApiError(404, "Multipart upload not found.")
    return upload


@routes.post("/v1/i2i/projects/{uuid}/multipart_uploads/{upload_id}/complete")
async def complete_multipart(request: web.Request) -> web.Response:
    state = state_of(request)
    project = _project(request)
    upload = _multipart(request, project)
    name = required_str(await read_json_object(request), "file_name")
    if name != upload.file_name:
        raise ApiError(
            400, f'file_name "{name}" does not match this upload ("{upload.file_name}").'
        )
    try:
        await asyncio.to_thread(state.store.complete_multipart, upload.upload_id)
    except StoreError as exc:
        raise ApiError(400, f"Cannot complete the upload of {name}: {exc.message}") from None
    del project.multiparts[upload.upload_id]
    project.files[name] = None
    return reply(request, {"message": f"Multipart upload of {name} completed."})


@routes.delete("/v1/i2i/projects/{uuid}/multipart_uploads/{upload_id}")
async def abort_multipart(request: web.Request) -> web.Response:
    state = state_of(request)
    project = _project(request)
    upload = _multipart(request, project)
    key = required_str(await read_json_object(request), "key")
    if key != upload.key:
        raise ApiError(400, "key does not match this upload.")
    try:
        await asyncio.to_thread(state.store.abort_multipart, upload.upload_id)
    except StoreError as exc:
        raise ApiError(404, f"Cannot abort the upload: {exc.message}") from None
    del project.multiparts[upload.upload_id]
    return reply(request, {"message": "Multipart upload aborted."})


@routes.post("/v1/i2i/projects/{uuid}/edit")
async def start_edit(request: web.Request) -> web.Response:
    state = state_of(request)
    project = _project(request)
    edit = parse_i2i_edit_request(await read_json_object(request, required=False))
    if project.running(state.now()):
        raise ApiError(409, "An edit is already running for this project.")
    names = uploaded_names(state, project)
    if not names:
        # The real service answers 500 here (number_of_images == 0); clients must cope.
        raise ApiError(500, "Internal Server Error")
    work = asyncio.to_thread(
        processing.run_i2i, state.store, project.uuid, names, edit, state.config.faults.fail_files
    )
    project.edit = state.start_job(work)
    project.edit_request = edit
    return reply(request, {"message": f"Project {project.uuid} sent for I2I editing successfully."})


@routes.get("/v1/i2i/projects/{uuid}/get_temporary_download_links")
async def edit_links(request: web.Request) -> web.Response:
    # Documented polling alternative: an empty list until the edit has completed.
    job = _project(request).edit
    if job is not None:
        now = state_of(request).now()
        await job.settle(now)
        if job.status(now).status == IN_PROGRESS or job.status(now).status == PENDING:
            return reply(request, {"files_list": []})
    outcome = await finished_outcome(request, job, "edit")
    return download_links(request, outcome)


@routes.get("/v1/i2i/projects/{uuid}/get_download_link")
async def edit_link(request: web.Request) -> web.Response:
    project = _project(request)
    name = query_file_name(request)
    outcome = await finished_outcome(request, project.edit, "edit")
    return single_download_link(request, outcome, name)
