"""ImageKit's file APIs under ``/v1`` (details, delete, bulk delete, list), auth and records.

Basic auth: the user name is the private key and the password is ignored (the SDK sends
``do_not_set``, curl an empty one). Every non-upload answer carries ImageKit's rate-limit
headers; every answer an ``x-ik-requestId``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator.faults import Faults
from bridge.emulator.imagekit.config import ImagekitConfig
from bridge.emulator.imagekit.errors import IkError, answer_errors
from bridge.emulator.imagekit.library import StoredFile, iso, new_id
from bridge.emulator.imagekit.state import STATE, ImagekitState, state_of
from bridge.emulator.imagekit.upload import handle_upload

PREFIX = "/imagekit"
UPLOAD_PATH = "/api/v1/files/upload"
MAX_BULK = 100
_RATE_LIMIT = {"X-RateLimit-Limit": "100", "X-RateLimit-Reset": "0", "X-RateLimit-Interval": "1000"}
_SORTS: dict[str, Callable[[StoredFile], object]] = {
    "CREATED": lambda f: f.created_at,
    "UPDATED": lambda f: f.updated_at,
    "NAME": lambda f: f.name,
    "SIZE": lambda f: f.current.size,
}
_QUERY_TERM = re.compile(r'\s*name\s*(=|:)\s*"((?:[^"\\]|\\.)*)"\s*')


@web.middleware
async def require_private_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise IkError(401, "Your request does not contain private API key.")
    try:
        user = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, ValueError):
        raise IkError(401, "Your request does not contain private API key.") from None
    expected = state_of(request).config.private_key
    if not user or (
        expected is not None and not hmac.compare_digest(user.encode(), expected.encode())
    ):
        raise IkError(403, "Your account cannot be authenticated.")
    return await handler(request)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith(PREFIX + "/"):
        return
    response.headers.setdefault("x-ik-requestId", new_id(32))
    if not request.path.startswith(PREFIX + UPLOAD_PATH):
        for name, value in _RATE_LIMIT.items():
            response.headers.setdefault(name, value)


def _file_json(request: web.Request, stored: StoredFile) -> dict[str, object]:
    endpoint = state_of(request).config.url_endpoint
    version = stored.current
    image = version.facts.mime is not None
    return {
        "type": "file",
        "fileId": stored.file_id,
        "name": stored.name,
        "filePath": stored.file_path,
        "tags": stored.tags,
        "AITags": stored.ai_tags,
        "versionInfo": {"id": version.id, "name": f"Version {version.number}"},
        "isPrivateFile": stored.is_private,
        "isPublished": True,
        "customCoordinates": stored.custom_coordinates,
        "url": f"{endpoint}{stored.file_path}",
        "thumbnail": f"{endpoint}/tr:n-ik_ml_thumbnail{stored.file_path}",
        "fileType": "image" if image else "non-image",
        "mime": version.facts.mime or "application/octet-stream",
        "width": version.facts.width,
        "height": version.facts.height,
        "size": version.size,
        "hasAlpha": False,
        "customMetadata": stored.custom_metadata,
        "createdAt": iso(stored.created_at),
        "updatedAt": iso(stored.updated_at),
    }


def _found(request: web.Request) -> StoredFile:
    stored = state_of(request).library.files.get(request.match_info["file_id"])
    if stored is None:
        raise IkError(404, "The requested file does not exist.")
    return stored


async def file_details(request: web.Request) -> web.Response:
    return web.json_response(_file_json(request, _found(request)))


async def delete_file(request: web.Request) -> web.Response:
    stored = _found(request)
    state_of(request).library.remove(stored.file_id)
    return web.Response(status=204)


async def bulk_delete(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        raise IkError(400, "The request body must be JSON.") from None
    ids = body.get("fileIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise IkError(400, "fileIds must be a non-empty list of file ids.")
    if len(ids) > MAX_BULK:
        raise IkError(400, f"At most {MAX_BULK} fileIds can be deleted at once.")
    library = state_of(request).library
    missing = [file_id for file_id in ids if file_id not in library.files]
    if missing:
        raise IkError(404, "The requested file(s) does not exist.", missingFileIds=missing)
    for file_id in ids:
        library.remove(file_id)
    return web.json_response({"successfullyDeletedFileIds": ids})


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise IkError(400, f"{name} must be an integer between {low} and {high}.")
    return int(raw)


def _matcher(query: str) -> Callable[[StoredFile], bool]:
    """``name = "x"`` (exact) and ``name : "x"`` (prefix) terms joined by AND."""
    terms: list[tuple[str, str]] = []
    for term in re.split(r"\bAND\b", query):
        match = _QUERY_TERM.fullmatch(term)
        if match is None:
            raise IkError(400, f"Invalid searchQuery: {query[:200]}")
        terms.append((match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))))

    def matches(stored: StoredFile) -> bool:
        return all(
            stored.name == value if op == "=" else stored.name.startswith(value)
            for op, value in terms
        )

    return matches


def _folder_json(path: str) -> dict[str, object]:
    return {
        "type": "folder",
        "folderId": new_id(),
        "name": path.rsplit("/", 1)[-1],
        "folderPath": path,
        "customMetadata": {},
    }


async def list_files(request: web.Request) -> web.Response:
    library = state_of(request).library
    kind = request.query.get("type", "file")
    if kind not in ("file", "file-version", "folder", "all"):
        raise IkError(400, "type must be file, file-version, folder or all.")
    file_type = request.query.get("fileType", "all")
    if file_type not in ("all", "image", "non-image"):
        raise IkError(400, "fileType must be all, image or non-image.")
    sort = request.query.get("sort", "ASC_CREATED")
    order, _, key = sort.partition("_")
    if order not in ("ASC", "DESC") or key not in _SORTS:
        raise IkError(400, f"Invalid sort: {sort[:50]}")
    limit = _int_param(request, "limit", 1000, 1, 1000)
    skip = _int_param(request, "skip", 0, 0, 10**9)
    path = "/" + "/".join(p for p in request.query.get("path", "/").split("/") if p)
    files = [
        f
        for f in library.files.values()
        if path == "/" or f.folder == path or f.folder.startswith(path + "/")
    ]
    if "searchQuery" in request.query:
        files = list(filter(_matcher(request.query["searchQuery"]), files))
    if file_type != "all":
        files = [f for f in files if (f.current.facts.mime is not None) == (file_type == "image")]
    files.sort(key=_SORTS[key], reverse=order == "DESC")  # type: ignore[arg-type]
    items: list[dict[str, object]] = []
    if kind in ("folder", "all"):
        items += [_folder_json(p) for p in sorted(library.folders()) if p != path]
    if kind in ("file", "file-version", "all"):
        items += [_file_json(request, f) for f in files]
    return web.json_response(items[skip : skip + limit])


async def records(request: web.Request) -> web.Response:
    """What the emulator holds (emulator-only, not ImageKit's): proof of what was uploaded."""
    library = state_of(request).library
    files = [
        {
            "fileId": f.file_id,
            "filePath": f.file_path,
            "versions": len(f.versions),
            "size": f.current.size,
            "sha256": f.current.sha256,
            "tags": f.tags,
            "customMetadata": f.custom_metadata,
            "isPrivateFile": f.is_private,
        }
        for f in library.files.values()
    ]
    return web.json_response({"files": files, "uploads": library.uploads})


def create_imagekit_app(config: ImagekitConfig, *, faults: Faults, root: Path) -> web.Application:
    """The sub-app to mount at ``/imagekit``; ``root`` holds the files' bytes."""
    for folder in ("tmp", "files"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir(parents=True)
    app = web.Application(middlewares=[answer_errors, require_private_key])
    app[STATE] = ImagekitState(config, faults, root)
    app.on_response_prepare.append(_add_headers)
    app.add_routes(
        [
            web.post(UPLOAD_PATH, handle_upload),
            web.get("/v1/files", list_files),
            web.post("/v1/files/batch/deleteByFileIds", bulk_delete),
            web.get("/v1/files/{file_id}/details", file_details),
            web.delete("/v1/files/{file_id}", delete_file),
            web.get("/_emulator/records", records),
        ]
    )
    return app


__all__ = ["PREFIX", "ImagekitState", "create_imagekit_app"]
