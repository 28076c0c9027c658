"""Pieces both project families share: project JSON, listing, links, job status."""

from __future__ import annotations

from aiohttp import web

from bridge.emulator.envelope import cased, reply
from bridge.emulator.options import EditRequest
from bridge.emulator.projects import PENDING, Family, Job, Outcome, Project
from bridge.emulator.state import EmulatorState, state_of
from bridge.emulator.validation import (
    ApiError,
    check_file_name,
    check_project_name,
    parse_paging,
    read_json_object,
)

CUSTOMER_REFERENCE_ID = 424242


def origin(request: web.Request) -> str:
    return str(request.url.origin())


def uploaded_names(state: EmulatorState, project: Project) -> list[str]:
    return [name for name in project.files if state.store.exists(project.upload_key(name))]


def project_json(request: web.Request, project: Project) -> dict[str, object]:
    state = state_of(request)
    now = state.now()
    status = project.edit.status(now).status if project.edit else PENDING
    export_status = project.export.status(now).status if project.export else None
    edit_request = project.edit_request
    tools: list[str] = []
    profile = None
    if edit_request is not None:
        options = edit_request.options
        tools = [name for name, value in vars(options).items() if value is True]
        if isinstance(edit_request, EditRequest):
            profile = edit_request.profile.name
    return {
        "project_id": project.project_id,
        "project_uuid": project.uuid,
        "name": project.name,
        "status": cased(request, status),
        "created_at": project.created_at,
        "number_of_images": len(uploaded_names(state, project)),
        "profile": profile,
        "ai_tools": tools,
        "customer_reference_id": CUSTOMER_REFERENCE_ID,
        "thumbnail_src": None,
        "export_status": cased(request, export_status) if export_status else None,
    }


async def create_project(request: web.Request, family: Family) -> web.Response:
    body = await read_json_object(request, required=False)
    project = state_of(request).projects.create(family, check_project_name(body))
    return reply(request, {"project_uuid": project.uuid})


def list_projects(request: web.Request, family: Family) -> web.Response:
    size, page = parse_paging(request.query)
    projects = state_of(request).projects.newest_first(family)
    chosen = projects[page * size : (page + 1) * size]
    return reply(
        request,
        {
            "projects": [project_json(request, project) for project in chosen],
            "pagination": {"total": len(projects), "size": size, "page": page},
        },
    )


def upload_links(
    request: web.Request, project: Project, files: list[tuple[str, str | None]]
) -> web.Response:
    state = state_of(request)
    if project.running(state.now()):
        raise ApiError(409, "Cannot add files while the project is being processed.")
    links = []
    for name, md5 in files:
        project.files[name] = md5
        url = state.store.presign(
            "PUT", project.upload_key(name), origin=origin(request), content_md5=md5
        )
        links.append({"file_name": name, "upload_link": url})
    return reply(request, {"files_list": links})


def single_upload_link(request: web.Request, key: str, name: str) -> web.Response:
    url = state_of(request).store.presign("PUT", key, origin=origin(request))
    return reply(request, {"file_name": name, "upload_link": url})


def query_file_name(request: web.Request) -> str:
    if "file_name" not in request.query:
        raise ApiError(400, "Query parameter 'file_name' is required.")
    return check_file_name(request.query["file_name"])


async def finished_outcome(request: web.Request, job: Job | None, what: str) -> Outcome:
    """The outcome of a job that reached Completed; a clear 400 otherwise."""
    state = state_of(request)
    if job is None:
        raise ApiError(400, f"Project has not been sent to {what} yet.")
    await job.settle(state.now())
    status = job.status(state.now())
    outcome = job.outcome(state.now())
    if outcome is None or status.status != "Completed":
        detail = f": {status.details}" if status.details else "."
        raise ApiError(400, f"The {what} is not completed; its status is {status.status}{detail}")
    return outcome


def download_links(request: web.Request, outcome: Outcome) -> web.Response:
    store = state_of(request).store
    links = [
        {
            "file_name": output.name,
            "download_link": store.presign("GET", output.key, origin=origin(request)),
        }
        for output in outcome.outputs
    ]
    return reply(request, {"files_list": links})


def single_download_link(request: web.Request, outcome: Outcome | None, name: str) -> web.Response:
    for output in outcome.outputs if outcome else ():
        if output.name == name:
            url = state_of(request).store.presign("GET", output.key, origin=origin(request))
            return reply(request, {"file_name": name, "download_link": url})
    raise ApiError(404, f'No output named "{name}" in this project.')


async def job_status(request: web.Request, job: Job | None, what: str) -> web.Response:
    state = state_of(request)
    if job is None:
        raise ApiError(400, f"Project has not been sent to {what} yet.")
    await job.settle(state.now())
    status = job.status(state.now())
    payload: dict[str, object] = {
        "status": cased(request, status.status),
        "progress": status.progress,
    }
    if status.details:
        payload["details"] = status.details
    return reply(request, payload)
