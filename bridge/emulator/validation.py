"""Request checks shared by every route: JSON bodies, typed fields, file names, paging.

Hostile input gets a 4xx with a message that says what was wrong, never a 500 or a hang.
"""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from collections.abc import Mapping

from aiohttp import web

# A files_list of this many entries is accepted (a large wedding); more is refused with 413.
MAX_FILES_PER_REQUEST = 10_000
# Long enough for 10,000 entries with long unicode names and MD5s; aiohttp answers 413 above.
MAX_JSON_BODY = 8 * 2**20
_MAX_NAME_BYTES = 255


class ApiError(Exception):
    """An error answer: HTTP status plus the message the service puts in ``error.message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_json_object(request: web.Request, *, required: bool = True) -> dict[str, object]:
    """The body as a JSON object, whatever Content-Type says (the SDK sends an empty one)."""
    raw = await request.read()  # bounded by the app's client_max_size -> 413
    if not raw.strip():
        if required:
            raise ApiError(400, "Request body is required: a JSON object.")
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(400, "Request body is not UTF-8.") from exc
    except (ValueError, RecursionError) as exc:  # ValueError: also an integer of 4300+ digits
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return body


def _type_error(name: str, expected: str, value: object) -> ApiError:
    got = "null" if value is None else type(value).__name__
    return ApiError(400, f"Field {name!r} must be {expected}, got {got}.")


def optional_bool(body: Mapping[str, object], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(name, "a boolean", value)


def optional_int(body: Mapping[str, object], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "an integer", value)
    return value


def optional_str(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _type_error(name, "a string", value)


def required_str(body: Mapping[str, object], name: str) -> str:
    value = optional_str(body, name)
    if value is None:
        raise ApiError(400, f"Field {name!r} is required.")
    return value


def check_file_name(name: object) -> str:
    """A plain base name: no folders, drive letters, control characters or dot names."""
    if not isinstance(name, str):
        raise _type_error("file_name", "a string", name)
    problem = None
    if not name.strip():
        problem = "it is empty"
    elif any(unicodedata.category(ch) == "Cc" for ch in name):
        problem = "it contains control characters"
    elif "/" in name or "\\" in name:
        problem = "it contains a path separator; send the base name only"
    elif ":" in name:
        problem = "it contains ':' (a drive or stream name)"
    elif name in (".", "..") or name != name.strip():
        problem = "it is a dot name or has leading or trailing spaces"
    elif len(name.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        problem = f"it is longer than {_MAX_NAME_BYTES} bytes"
    else:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            problem = "it is not valid unicode"
    if problem:
        shown = json.dumps(name[:80])
        raise ApiError(400, f"Invalid file name {shown}: {problem}.")
    return name


def _check_md5(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            if len(base64.b64decode(value, validate=True)) == 16:
                return value
        except (binascii.Error, ValueError):
            pass
    raise ApiError(400, f"md5 of {json.dumps(name)} must be the base64 of a 16-byte MD5 digest.")


def parse_files_list(body: Mapping[str, object]) -> list[tuple[str, str | None]]:
    """``files_list`` as (file_name, md5) pairs; duplicates refused the way Imagen words it."""
    files = body.get("files_list")
    if not isinstance(files, list):
        raise _type_error("files_list", "a list", files)
    if not files:
        raise ApiError(400, "files_list is empty.")
    if len(files) > MAX_FILES_PER_REQUEST:
        raise ApiError(
            413,
            f"files_list holds {len(files)} files; at most {MAX_FILES_PER_REQUEST} per request.",
        )
    parsed: list[tuple[str, str | None]] = []
    counts: dict[str, int] = {}
    for entry in files:
        if not isinstance(entry, dict):
            raise ApiError(400, "Every files_list entry must be an object with a file_name.")
        name = check_file_name(entry.get("file_name"))
        parsed.append((name, _check_md5(entry.get("md5"), name)))
        counts[name] = counts.get(name, 0) + 1
    for name, count in counts.items():
        if count > 1:
            raise ApiError(400, f'File "{name}" appears {count} times.')
    return parsed


def parse_paging(query: Mapping[str, str]) -> tuple[int, int]:
    """(size, page) from the query: size 1..100 (default 20), page >= 0 (default 0)."""
    values = {}
    for key, default, low, high in (("size", 20, 1, 100), ("page", 0, 0, None)):
        raw = query.get(key)
        if raw is None:
            values[key] = default
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"Query parameter {key!r} must be an integer.") from None
        if value < low or (high is not None and value > high):
            bounds = f"{low}..{high}" if high is not None else f">= {low}"
            raise ApiError(400, f"Query parameter {key!r} must be {bounds}.")
        values[key] = value
    return values["size"], values["page"]


def check_project_name(body: Mapping[str, object]) -> str | None:
    name = optional_str(body, "name")
    if name is None:
        return None
    if not name.strip() or len(name) > 255 or any(unicodedata.category(c) == "Cc" for c in name):
        raise ApiError(400, "Project name must be 1-255 printable characters.")
    return name
