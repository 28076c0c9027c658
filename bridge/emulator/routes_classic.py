"""The classic, profile-based flow under ``/v1``: profiles, projects, uploads, edit, export."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web

from bridge.emulator import processing
from bridge.emulator.catalog import PROFILES, image_type_of, sky_templates_json
from bridge.emulator.envelope import CONFIG_KEY, reply
from bridge.emulator.options import EditRequest, parse_edit_request
from bridge.emulator.projects import Job, Outcome, Project
from bridge.emulator.routes_common import (
    create_project,
    download_links,
    finished_outcome,
    job_status,
    list_projects,
    project_json,
    query_file_name,
    single_download_link,
    single_upload_link,
    upload_links,
    uploaded_names,
)
from bridge.emulator.state import EmulatorState, state_of
from bridge.emulator.validation import ApiError, parse_files_list, read_json_object

routes = web.RouteTableDef()


def _project(request: web.Request) -> Project:
    return state_of(request).projects.get("classic", request.match_info["uuid"])


@routes.get("/v1/profiles")
async def profiles(request: web.Request) -> web.Response:
    listed = [profile.to_json() for profile in PROFILES]
    # Production answers a bare list; the legacy/beta API wraps it as {"data": {"profiles": [...]}}.
    if request.app[CONFIG_KEY].envelope == "data":
        return reply(request, {"profiles": listed})
    return reply(request, listed)


@routes.get("/v1/projects/sky_replacement/templates")
async def sky_templates(request: web.Request) -> web.Response:
    # Production answers {"templates": [...]}; the official SDK accepts only that form.
    return reply(request, {"templates": sky_templates_json()})


@routes.post("/v1/projects/")
async def create(request: web.Request) -> web.Response:
    return await create_project(request, "classic")


@routes.get("/v1/projects")
async def list_all(request: web.Request) -> web.Response:
    return list_projects(request, "classic")


@routes.get("/v1/projects/{uuid}")
async def get_project(request: web.Request) -> web.Response:
    return reply(request, project_json(request, _project(request)))


@routes.get("/v1/projects/{name}/uuid")
async def uuid_by_name(request: web.Request) -> web.Response:
    project = state_of(request).projects.by_name("classic", request.match_info["name"])
    return reply(request, {"project_uuid": project.uuid})


@routes.post("/v1/projects/{uuid}/get_temporary_upload_links")
async def get_upload_links(request: web.Request) -> web.Response:
    project = _project(request)
    files = parse_files_list(await read_json_object(request))
    unsupported = [name for name, _ in files if image_type_of(name) is None]
    if unsupported:
        raise ApiError(
            400,
            f"Unsupported file type: {', '.join(unsupported[:10])}. "
            "Imagen edits RAW files and JPEGs (.jpg, .jpeg).",
        )
    return upload_links(request, project, files)


def _check_edit_inputs(state: EmulatorState, project: Project, request: EditRequest) -> list[str]:
    names = uploaded_names(state, project)
    if not names:
        raise ApiError(400, "No files have been uploaded to this project.")
    expected = request.profile.image_type
    other = "JPG" if expected == "RAW" else "RAW"
    wrong = [name for name in names if image_type_of(name) != expected]
    if wrong:
        raise ApiError(400, f"{expected} profile cannot be used with {other} files: {wrong[:20]}")
    bracket = state.config.hdr_bracket_size
    planned = processing.planned_output_names(names, request.options, bracket)
    clashes = sorted(name for name, count in Counter(planned).items() if count > 1)
    if clashes:
        raise ApiError(
            400,
            f"Several uploaded files would produce the same output {clashes[0]!r}; "
            "file names must differ in more than their extension.",
        )
    return names


@routes.post("/v1/projects/{uuid}/edit")
async def start_edit(request: web.Request) -> web.Response:
    state = state_of(request)
    project = _project(request)
    edit = parse_edit_request(await read_json_object(request))
    if project.running(state.now()):
        raise ApiError(409, "An edit or export is already running for this project.")
    names = _check_edit_inputs(state, project, edit)
    faults = state.config.faults
    work = asyncio.to_thread(
        processing.run_edit,
        state.store,
        project.uuid,
        names,
        edit,
        faults.fail_files,
        state.config.hdr_bracket_size,
    )
    project.edit = state.start_job(work)
    project.edit_request = edit
    project.export = None
    if edit.export:  # the docs' "export": true runs the export right after the edit
        project.export = state.start_job(
            _export_after(state, project, project.edit), delay=faults.processing_s
        )
    return reply(request, {"message": f"Project {project.uuid} sent for editing successfully."})


async def _export_after(state: EmulatorState, project: Project, edit: Job) -> Outcome:
    edited = await asyncio.shield(edit.work)
    return await asyncio.to_thread(processing.run_export, state.store, project.uuid, edited)


@routes.get("/v1/projects/{uuid}/edit/status")
async def edit_status(request: web.Request) -> web.Response:
    return await job_status(request, _project(request).edit, "edit")


@routes.get("/v1/projects/{uuid}/edit/get_temporary_download_links")
async def edit_links(request: web.Request) -> web.Response:
    return download_links(request, await finished_outcome(request, _project(request).edit, "edit"))


@routes.post("/v1/projects/{uuid}/export")
async def start_export(request: web.Request) -> web.Response:
    state = state_of(request)
    project = _project(request)
    if project.export is not None and not project.export.status(state.now()).terminal:
        raise ApiError(409, "An export is already running for this project.")
    edited = await finished_outcome(request, project.edit, "edit")
    work = asyncio.to_thread(processing.run_export, state.store, project.uuid, edited)
    project.export = state.start_job(work)
    return reply(
        request,
        {
            "project_uuid": project.uuid,
            "message": f"Project {project.uuid} sent for export successfully.",
        },
    )


@routes.get("/v1/projects/{uuid}/export/status")
async def export_status(request: web.Request) -> web.Response:
    return await job_status(request, _project(request).export, "export")


@routes.get("/v1/projects/{uuid}/export/get_temporary_download_links")
async def export_links(request: web.Request) -> web.Response:
    outcome = await finished_outcome(request, _project(request).export, "export")
    return download_links(request, outcome)


@routes.get("/v1/projects/{uuid}/export/get_download_link")
async def export_link(request: web.Request) -> web.Response:
    project = _project(request)
    name = query_file_name(request)
    outcome = await finished_outcome(request, project.export, "export")
    return single_download_link(request, outcome, name)


@routes.get("/v1/projects/{uuid}/export/get_upload_link")
async def export_upload_link(request: web.Request) -> web.Response:
    project = _project(request)
    name = query_file_name(request)
    return single_upload_link(request, project.export_key(name), name)
