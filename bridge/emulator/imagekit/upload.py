"""``POST /api/v1/files/upload``: ImageKit's server upload, multipart/form-data, streamed.

The file part goes to disk chunk by chunk whatever the field order; the text fields are
checked the way ImageKit documents: ``fileName`` characters other than letters, marks,
digits, ``.`` and ``-`` become ``_``; tags are a comma list of at most 500 characters without
``%``; folders at most 50 deep of letters, marks, digits, ``/``, ``_`` and ``-``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, web

from bridge.emulator.imagekit.errors import IkError
from bridge.emulator.imagekit.library import MAX_VERSIONS, StoredFile, Version, new_id, now_utc
from bridge.emulator.imagekit.state import state_of
from bridge.emulator.imgwire.files import (
    CHUNK,
    Received,
    TooLarge,
    cut_connection,
    receive_to_file,
    sniff_image,
)

MAX_TAGS_CHARS = 500
MAX_FOLDER_DEPTH = 50
MAX_FIELD_BYTES = 64 * 1024
_BOOLEAN_FIELDS = {
    "useUniqueFileName": True,
    "isPrivateFile": False,
    "isPublished": True,
    "overwriteFile": True,
    "overwriteAITags": True,
    "overwriteTags": True,
    "overwriteCustomMetadata": True,
}
RESPONSE_FIELDS = frozenset(
    {
        "tags",
        "customCoordinates",
        "isPrivateFile",
        "embeddedMetadata",
        "customMetadata",
        "metadata",
        "isPublished",
        "selectedFieldsSchema",
    }
)
_JSON_FIELDS = ("customMetadata", "extensions", "transformation")


@dataclass
class Form:
    text: dict[str, str] = field(default_factory=dict)
    file: Received | None = None


def _allowed_name_char(ch: str) -> bool:
    return ch in ".-" or unicodedata.category(ch)[0] in "LMN"


def sanitize_name(name: str) -> str:
    return "".join(ch if _allowed_name_char(ch) else "_" for ch in name)


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _read_text(part: BodyPartReader, name: str) -> str:
    raw = bytearray()
    async for chunk in _part_chunks(part):
        raw += chunk
        if len(raw) > MAX_FIELD_BYTES:
            raise IkError(400, f"The {name} parameter is too long.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise IkError(400, f"The {name} parameter is not valid UTF-8.") from None


async def read_form(request: web.Request, temp: Path) -> Form:
    """Every field of the form; the file (binary part or base64 text) lands in ``temp``."""
    state = state_of(request)
    if not request.content_type.startswith("multipart/form-data"):
        raise IkError(400, "The upload API accepts multipart/form-data only.")
    form = Form()
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or not part.name:
            raise IkError(400, "Every form part needs a name.")
        if part.name == "file" and part.filename is not None:
            if form.file is not None:
                raise IkError(400, "Only one file can be uploaded per request.")
            label = f"imagekit/{form.text.get('fileName', 'file')}"
            drop = state.faults.should_drop("upload", label)
            half = (request.content_length or 0) // 2
            try:
                form.file = await receive_to_file(
                    _part_chunks(part),
                    temp,
                    limit=state.config.max_file_size,
                    cut_after=half if drop and half else None,
                    request=request,
                )
            except TooLarge as exc:
                raise IkError(
                    400, f"File size exceeds the maximum of {exc.limit} bytes allowed on your plan."
                ) from None
        elif part.name == "file":
            form.file = await _base64_file(
                await _read_text(part, "file"), temp, state.config.max_file_size
            )
        else:
            form.text[part.name] = await _read_text(part, part.name)
    if form.file is None:
        raise IkError(400, "Missing file parameter for upload")
    return form


async def _base64_file(text: str, temp: Path, limit: int) -> Received:
    if text.startswith(("http://", "https://")):
        raise IkError(400, "The emulator does not fetch files from URLs; send the bytes.")
    try:
        data = base64.b64decode(text.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise IkError(400, "The file parameter is neither a file, a URL nor base64.") from None
    if len(data) > limit:
        raise IkError(400, f"File size exceeds the maximum of {limit} bytes allowed on your plan.")

    async def one() -> AsyncIterator[bytes]:
        yield data

    return await receive_to_file(one(), temp, limit=limit)


def _flag(text: dict[str, str], name: str) -> bool:
    value = text.get(name)
    if value is None:
        return _BOOLEAN_FIELDS[name]
    if value not in ("true", "false"):
        raise IkError(400, f"{name} should be boolean: true or false.")
    return value == "true"


def parse_tags(value: str | None) -> list[str] | None:
    if value is None:
        return None
    if len(value) > MAX_TAGS_CHARS:
        raise IkError(400, f"Tags can be at most {MAX_TAGS_CHARS} characters in total.")
    if "%" in value:
        raise IkError(400, "Tags must not contain the % character.")
    tags = [tag.strip() for tag in value.split(",") if tag.strip()]
    return tags or None


def parse_folder(value: str | None) -> str:
    """``/a/b`` (or ``/``): repeated slashes nest nothing, bad characters are refused."""
    if value is None:
        return "/"
    if any(ch not in "/_-" and unicodedata.category(ch)[0] not in "LMN" for ch in value):
        raise IkError(
            400,
            "Invalid folder name: only letters, digits, marks, '/', '_' and '-' are allowed.",
        )
    parts = [part for part in value.split("/") if part]
    if len(parts) > MAX_FOLDER_DEPTH:
        raise IkError(400, f"Folder depth can be at most {MAX_FOLDER_DEPTH}.")
    return "/" + "/".join(parts)


def _json_field(text: dict[str, str], name: str) -> object:
    try:
        return json.loads(text[name])
    except ValueError:
        raise IkError(400, f"{name} must be valid JSON.") from None


def parse_metadata(request: web.Request, text: dict[str, str]) -> dict[str, object] | None:
    if "customMetadata" not in text:
        return None
    value = _json_field(text, "customMetadata")
    if not isinstance(value, dict):
        raise IkError(400, "customMetadata must be a JSON object.")
    known = state_of(request).config.custom_metadata_fields
    unknown = sorted(set(value) - known) if known is not None else []
    if unknown:
        raise IkError(
            400, f"Invalid custom metadata field(s): {', '.join(unknown)}. Create them first."
        )
    return value


def response_fields(text: dict[str, str]) -> set[str]:
    return {f.strip() for f in text.get("responseFields", "").split(",") if f.strip()}


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    while True:
        candidate = f"{stem}_{new_id(10)}{dot}{suffix}"
        if candidate not in taken:
            return candidate


async def handle_upload(request: web.Request) -> web.Response:
    state = state_of(request)
    temp = state.root / "tmp" / f"{secrets.token_hex(12)}.part"
    try:
        form = await read_form(request, temp)
        stored, version = await _store(request, form, temp)
    finally:
        temp.unlink(missing_ok=True)
    if state.faults.should_lose_response(f"imagekit/{stored.file_path}"):
        cut_connection(request)
    asked = response_fields(form.text)
    return web.json_response(upload_json(state.config.url_endpoint, stored, version, asked))


async def _store(request: web.Request, form: Form, temp: Path) -> tuple[StoredFile, Version]:
    state = state_of(request)
    text = form.text
    if not text.get("fileName"):
        raise IkError(400, "Missing fileName parameter for upload")
    name = sanitize_name(text["fileName"])
    unique = _flag(text, "useUniqueFileName")
    overwrite = _flag(text, "overwriteFile")
    private = _flag(text, "isPrivateFile")
    for flag in ("isPublished", "overwriteAITags", "overwriteTags", "overwriteCustomMetadata"):
        _flag(text, flag)
    tags = parse_tags(text.get("tags"))
    folder = parse_folder(text.get("folder"))
    metadata = parse_metadata(request, text)
    for name_of_json in _JSON_FIELDS[1:]:
        if name_of_json in text:
            _json_field(text, name_of_json)
    asked = response_fields(text)
    if asked - RESPONSE_FIELDS:
        raise IkError(400, f"Invalid responseFields: {', '.join(sorted(asked - RESPONSE_FIELDS))}.")
    assert form.file is not None
    library = state.library
    prefix = folder.rstrip("/")
    if unique:
        taken = {f.name for f in library.files.values() if f.folder == folder}
        name = _unique(name, taken)
    existing = library.at(f"{prefix}/{name}")
    if existing is not None and not overwrite:
        raise IkError(
            400,
            "A file with the same name already exists at the exact location. We could not "
            "overwrite it because both overwriteFile and useUniqueFileName are set to false.",
        )
    if existing is not None and len(existing.versions) >= MAX_VERSIONS:
        raise IkError(400, f"A file can have at most {MAX_VERSIONS} versions.")
    facts = await asyncio.to_thread(sniff_image, temp)
    moment = now_utc()
    file_id = existing.file_id if existing else new_id()
    number = len(existing.versions) + 1 if existing else 1
    version = Version(
        file_id if number == 1 else new_id(),
        number,
        state.root / "files" / f"{file_id}-{number}",
        form.file.size,
        form.file.sha256,
        facts,
        moment,
    )
    await asyncio.to_thread(temp.replace, version.path)
    if existing is None:
        stored = StoredFile(
            file_id, name, folder, [version], tags, metadata or {},
            text.get("customCoordinates"), private, moment, moment,
        )  # fmt: skip
        library.add(stored)
    else:
        stored = existing
        stored.versions.append(version)
        stored.updated_at = moment
        stored.is_private = private
        stored.custom_coordinates = text.get("customCoordinates")
        if tags is not None or _flag(text, "overwriteTags"):
            stored.tags = tags
        if metadata is not None or _flag(text, "overwriteCustomMetadata"):
            stored.custom_metadata = metadata or {}
        if _flag(text, "overwriteAITags"):
            stored.ai_tags = None
    library.uploads.append(
        {
            "fileId": stored.file_id,
            "filePath": stored.file_path,
            "version": number,
            "size": version.size,
            "sha256": version.sha256,
        }
    )
    return stored, version


def _kind(version: Version) -> str:
    return "image" if version.facts.mime is not None else "non-image"


def upload_json(
    endpoint: str, stored: StoredFile, version: Version, asked: set[str]
) -> dict[str, object]:
    body: dict[str, object] = {
        "fileId": stored.file_id,
        "name": stored.name,
        "filePath": stored.file_path,
        "url": f"{endpoint}{stored.file_path}",
        "thumbnailUrl": f"{endpoint}/tr:n-ik_ml_thumbnail{stored.file_path}",
        "fileType": _kind(version),
        "size": version.size,
        "versionInfo": {"id": version.id, "name": f"Version {version.number}"},
        "tags": stored.tags,
        "AITags": stored.ai_tags,
        "isPrivateFile": stored.is_private,
        "customCoordinates": stored.custom_coordinates,
    }
    if version.facts.mime is not None:
        body["width"] = version.facts.width
        body["height"] = version.facts.height
    if "customMetadata" in asked:
        body["customMetadata"] = stored.custom_metadata
    if "embeddedMetadata" in asked:
        body["embeddedMetadata"] = {}
    if "metadata" in asked:
        body["metadata"] = {
            "width": version.facts.width,
            "height": version.facts.height,
            "size": version.size,
            "format": (version.facts.mime or "").rsplit("/", 1)[-1],
            "hasColorProfile": False,
            "quality": 0,
            "density": 72,
            "hasTransparency": False,
        }
    if "isPublished" in asked:
        body["isPublished"] = True
    return body
