"""AI tools, enhance, copilot and finalize: per-image follow-ups on a finished project.

``project_source`` (REGULAR or I2I) picks the project family. A regular project must be
exported first ("Project has not been exported yet."); a Smart Editing one must be edited.
Each enhance or copilot call makes a new numbered version of one image, a real JPEG.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import PurePosixPath

from aiohttp import web

from bridge.emulator.catalog import AI_TOOLS
from bridge.emulator.envelope import reply
from bridge.emulator.outputs.jpeg_encoder import encode_jpeg
from bridge.emulator.outputs.preview import PREVIEW_HEIGHT, PREVIEW_WIDTH, render_preview
from bridge.emulator.processing import stem
from bridge.emulator.projects import COMPLETED, Family, Outcome, OutputFile, Project
from bridge.emulator.routes_common import origin
from bridge.emulator.state import state_of
from bridge.emulator.validation import (
    ApiError,
    optional_int,
    read_json_object,
    required_str,
)

routes = web.RouteTableDef()
_TOOL_IDS = frozenset(str(tool["enhancement_type"]) for tool in AI_TOOLS)
_MAX_INSTRUCTION = 255


def _source(value: object) -> str:
    if value not in ("REGULAR", "I2I"):
        raise ApiError(400, "project_source must be REGULAR or I2I.")
    return str(value)


async def _finished(request: web.Request, source: str) -> tuple[Project, Outcome]:
    state = state_of(request)
    family: Family = "i2i" if source == "I2I" else "classic"
    project = state.projects.get(family, request.match_info["uuid"])
    job = project.edit if family == "i2i" else project.export
    if job is not None:
        await job.settle(state.now())
    outcome = job.outcome(state.now()) if job is not None else None
    if job is None or outcome is None or job.status(state.now()).status != COMPLETED:
        if family == "classic":
            raise ApiError(400, "Project has not been exported yet.")
        raise ApiError(400, "Project has not completed editing yet.")
    return project, outcome


def _image(outcome: Outcome, name: str) -> OutputFile:
    for output in outcome.outputs:
        if output.name == name:
            return output
    raise ApiError(404, f'No image named "{name}" in this project.')


def _new_version(project: Project, image: OutputFile, parent: int | None) -> tuple[int, str, str]:
    """(version number, its key, the key it builds on)."""
    versions = project.versions.setdefault(image.name, [])
    if parent is not None and not 1 <= parent <= len(versions):
        raise ApiError(404, f"Version {parent} of {image.name} does not exist.")
    base = versions[parent - 1] if parent else image.key
    number = len(versions) + 1
    # The suffix stays, so "a.jpg" and "a.jpeg" do not share (and overwrite) "a_v1".
    suffix = PurePosixPath(image.name).suffix
    key = f"projects/{project.uuid}/enhanced/{stem(image.name)}_v{number}{suffix}"
    versions.append(key)
    return number, key, base


async def _enhanced_result(
    request: web.Request, project: Project, image: OutputFile, parent: int | None, recipe: str
) -> web.Response:
    state = state_of(request)
    number, key, base = _new_version(project, image, parent)
    base_digest = await asyncio.to_thread(state.store.sha256, base)
    digest = hashlib.sha256(f"{base_digest}|{recipe}".encode()).hexdigest()
    jpeg = await asyncio.to_thread(
        encode_jpeg, PREVIEW_WIDTH, PREVIEW_HEIGHT, render_preview(digest, exposure=image.exposure)
    )
    await asyncio.to_thread(state.store.write_object, key, jpeg)
    url = state.store.presign("GET", key, origin=origin(request))
    return reply(request, {"status": "SUCCESS", "version_id": number, "enhanced_image_url": url})


@routes.get("/v1/projects/{uuid}/ai-tools")
async def ai_tools(request: web.Request) -> web.Response:
    await _finished(request, _source(request.query.get("project_source")))
    return reply(request, {"prompts": list(AI_TOOLS)})


@routes.post("/v1/projects/{uuid}/images/{filename}/enhance")
async def enhance(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    project, outcome = await _finished(request, _source(body.get("project_source")))
    tool = required_str(body, "tool_id")
    if tool not in _TOOL_IDS:
        raise ApiError(400, f"Unknown tool_id {tool!r}; known: {', '.join(sorted(_TOOL_IDS))}.")
    image = _image(outcome, request.match_info["filename"])
    parent = optional_int(body, "parent_version_id")
    return await _enhanced_result(request, project, image, parent, f"tool:{tool}")


@routes.post("/v1/projects/{uuid}/images/{filename}/copilot")
async def copilot(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    project, outcome = await _finished(request, _source(body.get("project_source")))
    instruction = required_str(body, "instruction")
    if not 1 <= len(instruction.strip()) <= _MAX_INSTRUCTION:
        raise ApiError(400, f"instruction must be 1-{_MAX_INSTRUCTION} characters.")
    image = _image(outcome, request.match_info["filename"])
    parent = optional_int(body, "parent_version_id")
    return await _enhanced_result(request, project, image, parent, f"copilot:{instruction}")


@routes.delete("/v1/projects/{uuid}/images/{filename}/copilot")
async def reset_copilot(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    project, outcome = await _finished(request, _source(body.get("project_source")))
    image = _image(outcome, request.match_info["filename"])
    project.versions.pop(image.name, None)
    return reply(request, {"message": f"Copilot history of {image.name} was reset."})


@routes.post("/v1/projects/{uuid}/finalize")
async def finalize(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    project, outcome = await _finished(request, _source(body.get("project_source")))
    store = state_of(request).store
    links = []
    for output in outcome.outputs:
        versions = project.versions.get(output.name)
        key = versions[-1] if versions else output.key
        links.append(
            {
                "file_name": output.name,
                "download_link": store.presign("GET", key, origin=origin(request)),
            }
        )
    return reply(request, {"files_list": links})
