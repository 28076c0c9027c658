"""The Imagen v1 API: one method per endpoint the bridge uses, on one pooled connection set.

Retries: reads (GET), link requests and other calls whose repetition changes
nothing are retried with backoff and jitter on 429 (after ``Retry-After``),
5xx and network errors. Calls that start something — creating a project,
starting an edit/export, creating a multipart upload — are retried only when
the request provably never reached Imagen (connection refused or timed out,
no free connection) or was turned away by rate limiting (429). Any other
failure of those is raised: a blind retry could create a second project or
start (and bill) a second edit. Project names are optional; callers that
need certainty name projects uniquely and can look them up with
:meth:`ImagenClient.project_uuid`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from bridge import __version__
from bridge.closing import AsyncClosing
from bridge.imagen.errors import ImagenAuthError, ImagenError, ImagenValidationError
from bridge.imagen.models import (
    EditOptions,
    FileLink,
    I2IEditOptions,
    MultipartUpload,
    PhotographyType,
    Profile,
    ProjectInfo,
    ProjectPage,
    SkyTemplate,
    Status,
)
from bridge.imagen.wire import error_message, unwrap
from bridge.transfer import (
    MAX_PARTS,
    RETRYABLE_ERRORS,
    RETRYABLE_STATUSES,
    RetryPolicy,
    parse_retry_after,
    redact_urls,
)

MAX_RESPONSE_BYTES = 64 * 2**20
DEFAULT_KEY_SOURCE = "the configured API key"

_T = TypeVar("_T")
Safety = Literal["repeatable", "once"]

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_SPACE = re.compile(r"\s")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what an HTTP header value can carry as it is


@dataclass(frozen=True)
class ClientTimeouts:
    """Seconds. Status polls get their own short read timeout: a hung poll must not stall."""

    connect: float = 10.0
    read: float = 60.0
    write: float = 60.0
    pool: float = 30.0
    poll_read: float = 15.0

    def as_httpx(self, *, poll: bool = False) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect,
            read=self.poll_read if poll else self.read,
            write=self.write,
            pool=self.pool,
        )


API_RETRY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=15.0)


class ImagenClient(AsyncClosing):
    """Async client of the Imagen v1 API. Use as ``async with ImagenClient(...) as api:``.

    ``key_source`` says where the key came from (e.g. "the IMAGEN_API_KEY
    environment variable") so a rejected key can be fixed; the key itself is
    never logged, shown in ``repr`` or put in an exception.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        key_source: str = DEFAULT_KEY_SOURCE,
        timeouts: ClientTimeouts = ClientTimeouts(),
        retry_policy: RetryPolicy = API_RETRY,
        logger: logging.Logger | None = None,
        max_connections: int = 10,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ImagenValidationError(f"The Imagen API key from {key_source} is empty.")
        if _SPACE.search(api_key.strip()):
            raise ImagenValidationError(
                f"The Imagen API key from {key_source} contains spaces or line breaks."
            )
        if not _HEADER_SAFE.fullmatch(api_key.strip()):
            # httpx would raise UnicodeEncodeError, whose repr holds the whole key.
            raise ImagenValidationError(
                f"The Imagen API key from {key_source} contains characters other than "
                "ASCII letters, digits and punctuation (a pasted typographic quote?)."
            )
        self._key = api_key.strip()
        self.base_url = base_url.rstrip("/")
        self.key_source = key_source
        self._timeouts = timeouts
        self._retry = retry_policy
        self._log = logger or logging.getLogger(__name__)
        self._client = httpx.AsyncClient(
            headers={"x-api-key": self._key, "User-Agent": f"imagen-bridge/{__version__}"},
            timeout=timeouts.as_httpx(),
            limits=httpx.Limits(max_connections=max_connections),
            follow_redirects=False,  # a redirect would carry the key to wherever it points
        )

    def __repr__(self) -> str:
        return f"ImagenClient(base_url={self.base_url!r}, key_source={self.key_source!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- discovery -----------------------------------------------------------------

    async def profiles(self) -> list[Profile]:
        """The account's profiles. Accepts a bare list or ``{"profiles": [...]}``, ± ``data``."""
        data = await self._call("GET", "/profiles")
        return self._parse(list[Profile], _listed(data, "profiles"), "the profile list")

    async def sky_templates(self) -> list[SkyTemplate]:
        """Sky replacement templates: ``{"templates": [...]}`` (production) or a bare list."""
        data = await self._call("GET", "/projects/sky_replacement/templates")
        return self._parse(list[SkyTemplate], _listed(data, "templates"), "the sky templates")

    # -- classic projects ----------------------------------------------------------

    async def create_project(self, name: str | None = None) -> str:
        """A new profile-flow project; its UUID. Not blindly retried (see module doc)."""
        data = await self._call("POST", "/projects/", json=_named(name), safety="once")
        return _project_uuid(data)

    async def list_projects(
        self,
        *,
        page: int = 0,
        size: int = 20,
        is_archived: bool | None = False,
        get_thumbnail: bool = False,
    ) -> ProjectPage:
        params = _page_params(page, size, is_archived, get_thumbnail)
        data = await self._call("GET", "/projects", params={**params, "client_type": "API"})
        return self._parse(ProjectPage, data, "the project list")

    async def get_project(self, uuid: str, *, get_thumbnail: bool = False) -> ProjectInfo:
        path = f"/projects/{_seg(uuid)}"
        data = await self._call("GET", path, params={"get_thumbnail": _flag(get_thumbnail)})
        return self._parse(ProjectInfo, data, "the project")

    async def project_uuid(self, name: str) -> str:
        """The UUID of the project called ``name`` (a bare string or an object)."""
        data = await self._call("GET", f"/projects/{_seg(name)}/uuid")
        return _project_uuid(data)

    async def upload_links(
        self, uuid: str, files: Sequence[tuple[str, str | None]]
    ) -> list[FileLink]:
        """Presigned PUT links for ``(file_name, base64 md5 or None)`` pairs, one per file."""
        body = {"files_list": _files_list(files)}
        path = f"/projects/{_seg(uuid)}/get_temporary_upload_links"
        data = await self._call("POST", path, json=body)
        return _require_all(self._links(data, "the upload links"), files)

    async def start_edit(
        self,
        uuid: str,
        profile_key: int,
        *,
        photography_type: PhotographyType | str | None = None,
        options: EditOptions | None = None,
    ) -> None:
        """Start editing with a profile. Everything is validated before the request.

        Sent with an explicitly empty ``Content-Type``, as Imagen's own clients do.
        """
        body: dict[str, Any] = {"profile_key": _profile_key(profile_key)}
        if photography_type is not None:
            body["photography_type"] = PhotographyType.parse(photography_type).value
        if options is not None:
            body.update(EditOptions.parse(options.model_dump()).to_api())
        await self._call(
            "POST",
            f"/projects/{_seg(uuid)}/edit",
            json=body,
            headers={"Content-Type": ""},
            safety="once",
        )

    async def edit_status(self, uuid: str) -> Status:
        data = await self._call("GET", f"/projects/{_seg(uuid)}/edit/status", poll=True)
        return self._parse(Status, data, "the edit status")

    async def edit_download_links(self, uuid: str) -> list[FileLink]:
        path = f"/projects/{_seg(uuid)}/edit/get_temporary_download_links"
        return self._links(await self._call("GET", path), "the edit download links")

    async def start_export(self, uuid: str) -> None:
        """Start the JPEG export of an edited project (a POST without a body)."""
        await self._call("POST", f"/projects/{_seg(uuid)}/export", safety="once")

    async def export_status(self, uuid: str) -> Status:
        data = await self._call("GET", f"/projects/{_seg(uuid)}/export/status", poll=True)
        return self._parse(Status, data, "the export status")

    async def export_download_links(self, uuid: str) -> list[FileLink]:
        path = f"/projects/{_seg(uuid)}/export/get_temporary_download_links"
        return self._links(await self._call("GET", path), "the export download links")

    # -- Smart Editing (I2I) -------------------------------------------------------

    async def i2i_create_project(self, name: str | None = None) -> str:
        data = await self._call("POST", "/i2i/projects/", json=_named(name), safety="once")
        return _project_uuid(data)

    async def i2i_list_projects(
        self, *, page: int = 0, size: int = 20, is_archived: bool | None = False
    ) -> ProjectPage:
        params = _page_params(page, size, is_archived, None)
        data = await self._call("GET", "/i2i/projects", params=params)
        return self._parse(ProjectPage, data, "the Smart Editing project list")

    async def i2i_project(self, uuid: str, *, get_thumbnail: bool = False) -> ProjectInfo:
        """The project; its ``status`` is the Smart Editing status."""
        path = f"/i2i/projects/{_seg(uuid)}"
        params = {"get_thumbnail": _flag(get_thumbnail)}
        data = await self._call("GET", path, params=params, poll=True)
        return self._parse(ProjectInfo, data, "the Smart Editing project")

    async def i2i_status(self, uuid: str) -> Status:
        """The Smart Editing status, read from the project (for :func:`wait_until_done`)."""
        project = await self.i2i_project(uuid)
        if project.status is None:
            raise ImagenError(
                f"Imagen returned Smart Editing project {uuid} without a status", retryable=True
            )
        return Status(status=project.status)

    async def i2i_upload_links(
        self, uuid: str, files: Sequence[tuple[str, str | None]]
    ) -> list[FileLink]:
        body = {"files_list": _files_list(files), "client_type": "API"}
        path = f"/i2i/projects/{_seg(uuid)}/get_temporary_upload_links"
        data = await self._call("POST", path, json=body)
        return _require_all(self._links(data, "the upload links"), files)

    async def i2i_multipart_create(
        self, uuid: str, file_name: str, part_count: int
    ) -> MultipartUpload:
        """Start a multipart upload; the server's part list is checked to be exactly 1..N."""
        if not 1 <= part_count <= MAX_PARTS:
            raise ImagenValidationError(
                f"part_count must be between 1 and {MAX_PARTS} (got {part_count})"
            )
        if not file_name:
            raise ImagenValidationError("A multipart upload needs a file name")
        body = {"file_name": file_name, "part_count": part_count}
        path = f"/i2i/projects/{_seg(uuid)}/multipart_uploads"
        data = await self._call("POST", path, json=body, safety="once")
        upload = self._parse(MultipartUpload, data, "the multipart upload")
        numbers = sorted(part.part_number for part in upload.parts)
        if numbers != list(range(1, part_count + 1)):
            raise ImagenError(
                f"Imagen returned {len(numbers)} part links for {file_name}, "
                f"not parts 1..{part_count}; aborting is the only safe next step",
                retryable=False,
            )
        return upload

    async def i2i_multipart_complete(self, uuid: str, upload_id: str, file_name: str) -> None:
        path = f"/i2i/projects/{_seg(uuid)}/multipart_uploads/{_seg(upload_id)}/complete"
        await self._call("POST", path, json={"file_name": file_name})

    async def i2i_multipart_abort(self, uuid: str, upload_id: str, key: str) -> None:
        path = f"/i2i/projects/{_seg(uuid)}/multipart_uploads/{_seg(upload_id)}"
        await self._call("DELETE", path, json={"key": key})

    async def i2i_edit(self, uuid: str, options: I2IEditOptions | None = None) -> None:
        body = I2IEditOptions.parse(options.model_dump()).to_api() if options else {}
        await self._call("POST", f"/i2i/projects/{_seg(uuid)}/edit", json=body, safety="once")

    async def i2i_download_links(self, uuid: str) -> list[FileLink]:
        path = f"/i2i/projects/{_seg(uuid)}/get_temporary_download_links"
        return self._links(await self._call("GET", path), "the download links")

    # -- plumbing ------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        safety: Safety = "repeatable",
        poll: bool = False,
    ) -> Any:
        """One API call with retries; the unwrapped JSON payload (None for an empty body)."""
        attempts = self._retry.attempts
        number = 0
        while True:
            number += 1
            retry_after: float | None = None
            try:
                status, body, reply_headers = await self._send(
                    method, path, json=json, params=params, headers=headers, poll=poll
                )
            except (httpx.RequestError, httpx.InvalidURL) as exc:
                error = self._transport_error(method, path, exc)
                allowed = safety == "repeatable" or isinstance(exc, _NOT_SENT)
            else:
                if 200 <= status < 300:
                    return self._decode(body, status, path)
                error = self._status_error(method, path, status, body)
                allowed = safety == "repeatable" or status == 429
                retry_after = parse_retry_after(reply_headers.get("Retry-After"))
            if not (error.retryable and allowed) or number >= attempts:
                raise error
            delay = self._retry.delay(number, retry_after)
            self._log.warning(
                "Imagen %s %s failed (attempt %d of %d: %s); retrying in %.1f s",
                method, path, number, attempts, error.message, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, str | int] | None,
        headers: Mapping[str, str] | None,
        poll: bool,
    ) -> tuple[int, bytes, httpx.Headers]:
        async with self._client.stream(
            method,
            self.base_url + path,
            json=json,
            params=params,
            headers=headers,
            timeout=self._timeouts.as_httpx(poll=poll),
        ) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ImagenError(
                        f"Imagen's answer to {method} {path} exceeds {MAX_RESPONSE_BYTES} bytes",
                        status=response.status_code,
                    )
            return response.status_code, bytes(body), response.headers

    def _decode(self, body: bytes, status: int, path: str) -> Any:
        if not body.strip():
            return None
        try:
            return unwrap(json.loads(body))
        except ValueError:
            raise ImagenError(
                f"Imagen answered {path} with HTTP {status} but the body is not JSON: "
                f"{self._redact(error_message(body) or '')}",
                status=status,
            ) from None

    def _status_error(self, method: str, path: str, status: int, body: bytes) -> ImagenError:
        said = self._redact(error_message(body) or "")
        if status == 401:
            return ImagenAuthError(
                f"Imagen rejected the API key read from {self.key_source} (HTTP 401"
                f"{': ' + said if said else ''}). Check the key there, or remove it to use "
                "the offline emulator.",
                status=401,
                server_message=said or None,
            )
        reason = said or httpx.codes.get_reason_phrase(status) or "no details"
        return ImagenError(
            f"Imagen {method} {path} failed with HTTP {status}: {reason}",
            status=status,
            retryable=status in RETRYABLE_STATUSES,
            server_message=said or None,
        )

    def _transport_error(
        self, method: str, path: str, exc: httpx.RequestError | httpx.InvalidURL
    ) -> ImagenError:
        detail = self._redact(redact_urls(str(exc))) or "no details"
        return ImagenError(
            f"Could not reach Imagen ({method} {path}): {type(exc).__name__}: {detail}",
            retryable=isinstance(exc, RETRYABLE_ERRORS),
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[API key]") if self._key in text else text

    def _parse(self, shape: type[_T], data: Any, what: str) -> _T:
        try:
            return TypeAdapter(shape).validate_python(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
                for err in exc.errors()[:5]
            )
            raise ImagenError(f"Imagen sent {what} in an unexpected shape ({problems})") from None

    def _links(self, data: Any, what: str) -> list[FileLink]:
        return self._parse(list[FileLink], _listed(data, "files_list"), what)


def _seg(value: str) -> str:
    """A path parameter, escaped so a name with ``/``, ``?`` or ``#`` stays one segment."""
    if not value:
        raise ImagenValidationError("A project id or name must not be empty")
    return quote(value, safe="")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _named(name: str | None) -> dict[str, str]:
    return {"name": name} if name else {}


def _page_params(
    page: int, size: int, is_archived: bool | None, get_thumbnail: bool | None
) -> dict[str, str | int]:
    if not 1 <= size <= 100:
        raise ImagenValidationError(f"size must be between 1 and 100 (got {size})")
    if page < 0:
        raise ImagenValidationError(f"page must not be negative (got {page})")
    params: dict[str, str | int] = {"page": page, "size": size}
    if is_archived is not None:
        params["is_archived"] = _flag(is_archived)
    if get_thumbnail is not None:
        params["get_thumbnail"] = _flag(get_thumbnail)
    return params


def _profile_key(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImagenValidationError(f"profile_key must be a profile number (got {value!r})")
    return value


def _files_list(files: Sequence[tuple[str, str | None]]) -> list[dict[str, str]]:
    if not files:
        raise ImagenValidationError("No files to request upload links for")
    names = [name for name, _ in files]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ImagenValidationError(
            f"File names must be unique within a project: {', '.join(duplicates)}"
        )
    return [{"file_name": name, **({"md5": md5} if md5 else {})} for name, md5 in files]


def _require_all(links: list[FileLink], files: Sequence[tuple[str, str | None]]) -> list[FileLink]:
    got = {link.file_name for link in links}
    missing = [name for name, _ in files if name not in got]
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise ImagenError(f"Imagen returned no upload link for {shown}")
    return links


def _listed(data: Any, key: str) -> Any:
    """A list that may come bare or as ``{key: [...]}``."""
    if isinstance(data, dict) and key in data:
        return data[key]
    return data


def _project_uuid(data: Any) -> str:
    if isinstance(data, str) and data:
        return data
    if isinstance(data, dict):
        for key in ("project_uuid", "uuid"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    raise ImagenError("Imagen's answer did not contain a project UUID")
