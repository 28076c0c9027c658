"""Imgwire's Images resource (``/api/v1/images/...``), its presigned PUT, CDN and records.

Answers follow Imgwire's OpenAPI document exactly (200 bodies and 422s); the domain errors
(401, 404, 409) use its ``{"detail", "error_type"}`` shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import mimetypes
import secrets
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlencode, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator.faults import Faults
from bridge.emulator.imgwire.config import ImgwireConfig
from bridge.emulator.imgwire.errors import (
    Invalid,
    Problem,
    answer_errors,
    not_found,
    parse_json_body,
)
from bridge.emulator.imgwire.files import (
    CHUNK,
    ImageFacts,
    TooLarge,
    cut_connection,
    receive_to_file,
    request_chunks,
    sniff_image,
)
from bridge.emulator.imgwire.images import (
    DownloadJob,
    Image,
    Landed,
    Library,
    Verdict,
    iso,
    now_utc,
)
from bridge.emulator.imgwire.validate import (
    MIME_TYPES,
    UploadRequest,
    image_ids,
    paging,
    path_uuid,
    standard_upload,
    upload_via_url,
)
from bridge.emulator.objectstore import ObjectStore
from bridge.emulator.s3errors import StoreError
from bridge.emulator.signing import QuerySigner

log = logging.getLogger(__name__)

PREFIX = "/imgwire"
API = "/api/v1/images"
_SIGNED_BUCKET = "imgwire-uploads"
_JSON_BODY_LIMIT = 1 << 20


@dataclass
class ImgwireState:
    config: ImgwireConfig
    faults: Faults
    store: ObjectStore
    root: Path
    clock: Callable[[], float]
    signer: QuerySigner = field(default_factory=lambda: QuerySigner(secrets.token_bytes(32)))
    library: Library = field(default_factory=Library)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def processing_s(self) -> float:
        return self.faults.config.processing_s

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


STATE = web.AppKey("imgwire_state", ImgwireState)


def _state(request: web.Request) -> ImgwireState:
    return request.app[STATE]


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


def _image_json(request: web.Request, image: Image) -> dict[str, object]:
    state = _state(request)
    return image.to_json(state.clock(), state.processing_s, f"{_origin(request)}{PREFIX}/cdn")


async def _json_body(request: web.Request) -> object:
    if request.content_length is not None and request.content_length > _JSON_BODY_LIMIT:
        raise web.HTTPRequestEntityTooLarge(
            max_size=_JSON_BODY_LIMIT, actual_size=request.content_length
        )
    raw = bytearray()
    async for chunk in request_chunks(request):
        raw += chunk
        if len(raw) > _JSON_BODY_LIMIT:
            raise web.HTTPRequestEntityTooLarge(max_size=_JSON_BODY_LIMIT, actual_size=len(raw))
    return parse_json_body(bytes(raw))


# ---- auth ----------------------------------------------------------------------------------


@web.middleware
async def require_bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Authorization: Bearer <server key>`` on the API and the records; not on signed PUTs."""
    if request.path.startswith((f"{PREFIX}/api/", f"{PREFIX}/_emulator/")):
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise Problem(401, "Missing or invalid Authorization header.", "InvalidTokenError")
        expected = _state(request).config.api_key
        if expected is not None and not hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), expected.encode()
        ):
            raise Problem(401, "Invalid API key.", "InvalidTokenError")
    environment = request.headers.get("X-Environment-Id")
    if environment is not None and path_uuid_or_none(environment) is None:
        raise Invalid(
            [(("header", "X-Environment-Id"), "Input should be a valid UUID", "uuid_parsing")]
        )
    return await handler(request)


def path_uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# ---- images --------------------------------------------------------------------------------


async def list_images(request: web.Request) -> web.Response:
    page, limit = paging(request.query)
    images = _state(request).library.newest_first()
    total = len(images)
    chosen = images[(page - 1) * limit : page * limit]
    last_page = max(1, -(-total // limit))
    headers = {
        "X-Total-Count": str(total),
        "X-Page": str(page),
        "X-Limit": str(limit),
        "X-Prev-Page": str(page - 1) if page > 1 else "null",
        "X-Next-Page": str(page + 1) if page < last_page else "null",
    }
    return web.json_response([_image_json(request, image) for image in chosen], headers=headers)


def _guess_mime(name: str) -> str | None:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed == "image/x-icon":
        guessed = "image/vnd.microsoft.icon"
    return guessed if guessed in MIME_TYPES else None


def _same_request(old: UploadRequest, new: UploadRequest) -> bool:
    """A repeated idempotency key must come with the same upload (metadata aside)."""
    fields = ("file_name", "mime_type", "content_length", "hash_sha256", "url")
    return all(getattr(old, name) == getattr(new, name) for name in fields)


def _remembered(state: ImgwireState, upload: UploadRequest) -> Image | None:
    key = upload.idempotency_key
    if key is None:
        return None
    image = state.library.images.get(state.library.by_key.get(key, ""))
    if image is None or image.deleted_at is not None:
        return None
    if not _same_request(image.request, upload):
        raise Problem(
            409,
            "This idempotency_key was already used for a different upload.",
            "OperationNotAllowedError",
        )
    state.library.repeats += 1
    return image


def _new_image(state: ImgwireState, upload: UploadRequest, mime: str) -> Image:
    library = state.library
    image = Image(str(uuid.uuid4()), library.environment_id, upload, mime, now_utc())
    library.images[image.id] = image
    if upload.idempotency_key is not None:
        library.by_key[upload.idempotency_key] = image.id
    return image


def _use_token(state: ImgwireState, request: web.Request) -> str | None:
    text = request.query.get("upload_token")
    if text is None:
        return None
    token = state.library.tokens.get(text)
    now = now_utc()
    if token is None or token.used_at is not None or token.expires_at <= now:
        raise Problem(401, "The upload token is invalid, used or expired.", "InvalidTokenError")
    token.used_at = now
    return token.id


def _upload_url(request: web.Request, image: Image) -> str:
    state = _state(request)
    query = state.signer.sign(
        "PUT",
        _SIGNED_BUCKET,
        image.id,
        now=time.time(),
        expires_in=state.faults.config.link_lifetime_s,
        params={},
        headers={"content-type": image.mime_type},
    )
    return f"{_origin(request)}{PREFIX}/uploads/{image.id}?{urlencode(query)}"


async def create_standard_upload(request: web.Request) -> web.Response:
    state = _state(request)
    upload = standard_upload(await _json_body(request))
    image = _remembered(state, upload)
    if image is None:
        mime = upload.mime_type or _guess_mime(upload.file_name)
        if mime is None:
            raise Invalid(
                [
                    (
                        ("body", "mime_type"),
                        "The MIME type cannot be inferred from file_name; send mime_type",
                        "value_error",
                    )
                ]
            )
        token_id = _use_token(state, request)
        image = _new_image(state, upload, mime)
        image.upload_token_id = token_id
    body = {"image": _image_json(request, image), "upload_url": _upload_url(request, image)}
    if state.faults.should_lose_response(f"imgwire-create/{upload.file_name}"):
        cut_connection(request)
    return web.json_response(body)


async def create_upload_via_url(request: web.Request) -> web.Response:
    state = _state(request)
    upload = upload_via_url(await _json_body(request))
    source = upload.url
    assert source is not None
    _require_loopback(source)
    image = _remembered(state, upload)
    if image is None:
        source_name = unquote(urlsplit(source).path.rsplit("/", 1)[-1]) or "upload"
        upload = replace(upload, file_name=upload.file_name or source_name)
        mime = upload.mime_type or _guess_mime(upload.file_name) or "image/jpeg"
        image = _new_image(state, upload, mime)
        image.fetching = True
        state.spawn(_fetch(state, image, source))
    return web.json_response(_image_json(request, image))


def _require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Invalid(
            [
                (
                    ("body", "url"),
                    "The emulator fetches loopback URLs only (127.0.0.1, ::1, localhost)",
                    "value_error",
                )
            ]
        )


async def _fetch(state: ImgwireState, image: Image, url: str) -> None:
    """Download the source like the service does, then judge it like an uploaded file."""
    temp = _temp_path(state)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                raise OSError(f"source answered HTTP {response.status}")
            received = await receive_to_file(
                response.content.iter_chunked(CHUNK), temp, limit=state.config.max_upload_bytes
            )
        facts = await asyncio.to_thread(sniff_image, temp)
        if image.request.mime_type is None and facts.mime in MIME_TYPES:
            image.mime_type = facts.mime or image.mime_type
        await asyncio.to_thread(_land, state, image, temp, received.size, received.sha256)
    except (OSError, aiohttp.ClientError, TooLarge, TimeoutError) as exc:
        log.info("imgwire emulator: fetching %s failed: %s", url, exc)
        image.landed = Landed(temp, 0, "", ImageFacts(None), "QUARANTINE", state.clock(), now_utc())
    finally:
        image.fetching = False
        temp.unlink(missing_ok=True)


def _temp_path(state: ImgwireState) -> Path:
    return state.root / "tmp" / f"{secrets.token_hex(12)}.part"


def _verdict(
    state: ImgwireState, image: Image, path: Path, sha256: str
) -> tuple[Verdict, ImageFacts]:
    facts = sniff_image(path)
    declared_hash = image.request.hash_sha256
    bad = (
        facts.mime != image.mime_type
        or (declared_hash is not None and declared_hash.lower() != sha256)
        or image.request.file_name in state.faults.config.fail_files
    )
    return ("QUARANTINE" if bad else "READY"), facts


def _land(state: ImgwireState, image: Image, temp: Path, size: int, sha256: str) -> None:
    """Judge the received bytes and move them into place (runs in a worker thread)."""
    verdict, facts = _verdict(state, image, temp, sha256)
    final = state.root / "images" / image.id
    temp.replace(final)
    image.landed = Landed(final, size, sha256, facts, verdict, state.clock(), now_utc())
    state.library.uploads.append(
        {"image_id": image.id, "file_name": image.request.file_name, "size": size, "sha256": sha256}
    )


async def get_image(request: web.Request) -> web.Response:
    image = _live(request)
    return web.json_response(_image_json(request, image))


def _live(request: web.Request) -> Image:
    image_id = path_uuid(request.match_info["image_id"], "image_id")
    image = _state(request).library.live(image_id)
    if image is None:
        raise not_found("Image")
    return image


async def delete_image(request: web.Request) -> web.Response:
    image = _live(request)
    image.deleted_at = now_utc()
    return web.json_response({"id": image.id, "status": "deleted"})


def _all_live(state: ImgwireState, ids: list[str]) -> list[Image]:
    missing = [image_id for image_id in ids if state.library.live(image_id) is None]
    if missing:
        raise Problem(404, f"Images not found: {', '.join(missing[:20])}.", "ResourceNotFoundError")
    return [state.library.images[image_id] for image_id in ids]


async def bulk_delete(request: web.Request) -> web.Response:
    state = _state(request)
    images = _all_live(state, image_ids(await _json_body(request)))
    moment = now_utc()
    for image in images:
        image.deleted_at = moment
    return web.json_response({"status": "deleted", "deleted_count": str(len(images))})


async def create_token(request: web.Request) -> web.Response:
    state = _state(request)
    token = state.library.new_token(now_utc())
    return web.json_response(
        {
            "id": token.id,
            "environment_id": state.library.environment_id,
            "token": token.token,
            "expires_at": iso(token.expires_at),
            "created_at": iso(token.created_at),
            "updated_at": iso(token.created_at),
            "used_at": None,
        }
    )


# ---- bulk downloads ------------------------------------------------------------------------


async def create_download(request: web.Request) -> web.Response:
    state = _state(request)
    images = _all_live(state, image_ids(await _json_body(request)))
    now = state.clock()
    ready = all(image.status(now, state.processing_s) == "READY" for image in images)
    job = DownloadJob(
        str(uuid.uuid4()),
        state.library.environment_id,
        [image.id for image in images],
        now_utc(),
        now,
        f"imgwire-downloads/{uuid.uuid4()}.zip" if ready else None,
        built=not ready,
    )
    state.library.jobs[job.id] = job
    if ready:
        state.spawn(_build_archive(state, job, images))
    return web.json_response(_job_json(request, job))


async def _build_archive(state: ImgwireState, job: DownloadJob, images: list[Image]) -> None:
    assert job.archive_key is not None
    members = [(image.landed.path, image.request.file_name) for image in images if image.landed]
    await asyncio.to_thread(
        state.store.write_stream, job.archive_key, lambda sink: _zip(sink, members)
    )
    job.built = True


def _zip(sink: BinaryIO, members: list[tuple[Path, str]]) -> None:
    """A stored (uncompressed: JPEGs do not shrink) ZIP, each member streamed from disk."""
    used: set[str] = set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path, name in members:
            arcname = _member_name(name, used)
            with path.open("rb") as source, archive.open(arcname, "w", force_zip64=True) as target:
                shutil.copyfileobj(source, target, CHUNK)


def _member_name(name: str, used: set[str]) -> str:
    """The base name, made unique within the archive (``a.jpg``, ``a (2).jpg``...)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "image"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    candidate, number = base, 1
    while candidate.lower() in used:
        number += 1
        candidate = f"{stem} ({number}){dot}{suffix}"
    used.add(candidate.lower())
    return candidate


def _job_json(request: web.Request, job: DownloadJob) -> dict[str, object]:
    state = _state(request)
    status = job.status(state.clock(), state.processing_s)
    url = None
    if status == "READY" and job.archive_key is not None:
        url = state.store.presign("GET", job.archive_key, origin=_origin(request))
    return {
        "id": job.id,
        "environment_id": job.environment_id,
        "status": status,
        "image_ids": job.image_ids,
        "download_url": url,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.created_at),
    }


async def get_download(request: web.Request) -> web.Response:
    job_id = path_uuid(request.match_info["image_download_job_id"], "image_download_job_id")
    job = _state(request).library.jobs.get(job_id)
    if job is None:
        raise not_found("Download job")
    return web.json_response(_job_json(request, job))


# ---- the presigned PUT, the CDN and the records ------------------------------------------------


async def put_bytes(request: web.Request) -> web.Response:
    """The ``upload_url``: signed for one image and its declared ``Content-Type``, no auth."""
    state = _state(request)
    image_id = request.match_info["image_id"]
    try:
        state.signer.verify(
            "PUT",
            _SIGNED_BUCKET,
            image_id,
            now=time.time(),
            query=dict(request.query),
            headers=request.headers,
        )
    except StoreError as error:
        raise Problem(403, error.message, "ResourceNotAuthorizedError") from None
    image = state.library.live(image_id)
    if image is None:
        raise not_found("Image")
    length = request.content_length
    if length is None or "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        raise Problem(411, "Content-Length is required.", "OperationNotAllowedError")
    declared = image.request.content_length
    if declared is not None and length != declared:
        raise Problem(
            400,
            f"Content-Length {length} does not match the declared content_length {declared}.",
            "OperationNotAllowedError",
        )
    name = image.request.file_name
    drop = state.faults.should_drop("upload", f"imgwire/{name}")
    temp = _temp_path(state)
    try:
        try:
            received = await receive_to_file(
                request_chunks(request),
                temp,
                limit=min(length, state.config.max_upload_bytes),
                cut_after=length // 2 if drop and length else None,
                request=request,
            )
        except TooLarge as exc:
            raise Problem(
                413, f"The upload exceeds {exc.limit} bytes.", "OperationNotAllowedError"
            ) from None
        if received.size != length:
            raise Problem(
                400, "The body is shorter than Content-Length.", "OperationNotAllowedError"
            )
        if image.landed is not None:
            if image.landed.sha256 != received.sha256:
                raise Problem(
                    409, "This image's bytes were already uploaded.", "OperationNotAllowedError"
                )
        else:
            await asyncio.to_thread(_land, state, image, temp, received.size, received.sha256)
    finally:
        temp.unlink(missing_ok=True)
    if state.faults.should_lose_response(f"imgwire-put/{name}"):
        cut_connection(request)
    return web.Response(status=200)


async def cdn(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    image = state.library.live(request.match_info["image_id"])
    if (
        image is None
        or image.landed is None
        or image.status(state.clock(), state.processing_s) != "READY"
    ):
        raise not_found("Image")
    return web.FileResponse(
        image.landed.path, headers={"Content-Type": image.mime_type}, chunk_size=CHUNK
    )


async def records(request: web.Request) -> web.Response:
    """What the emulator holds (emulator-only, not Imgwire's): proof of what was uploaded."""
    state = _state(request)
    now = state.clock()
    images = [
        {
            "id": image.id,
            "file_name": image.request.file_name,
            "idempotency_key": image.request.idempotency_key,
            "custom_metadata": image.request.custom_metadata,
            "status": image.status(now, state.processing_s),
            "size": image.landed.size if image.landed else None,
            "sha256": image.landed.sha256 if image.landed else None,
            "deleted": image.deleted_at is not None,
        }
        for image in state.library.images.values()
    ]
    return web.json_response(
        {"images": images, "uploads": state.library.uploads, "repeats": state.library.repeats}
    )


# ---- the app -------------------------------------------------------------------------------


def create_imgwire_app(
    config: ImgwireConfig,
    *,
    faults: Faults,
    store: ObjectStore,
    root: Path,
    clock: Callable[[], float],
) -> web.Application:
    """The sub-app to mount at ``/imgwire``; ``root`` holds its uploaded bytes."""
    for folder in ("tmp", "images"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir(parents=True)
    app = web.Application(middlewares=[answer_errors, require_bearer])
    state = ImgwireState(config, faults, store, root, clock)
    app[STATE] = state
    app.add_routes(
        [
            web.get(f"{API}/", list_images),
            web.post(f"{API}/standard_upload", create_standard_upload),
            web.post(f"{API}/upload_via_url", create_upload_via_url),
            web.post(f"{API}/token", create_token),
            web.post(f"{API}/bulk_delete", bulk_delete),
            web.post(f"{API}/downloads", create_download),
            web.get(f"{API}/downloads/{{image_download_job_id}}", get_download),
            web.get(f"{API}/{{image_id}}", get_image),
            web.delete(f"{API}/{{image_id}}", delete_image),
            web.put("/uploads/{image_id}", put_bytes),
            web.get("/cdn/{environment_id}/{image_id}", cdn),
            web.get("/_emulator/records", records),
        ]
    )

    async def _cleanup(_: web.Application) -> None:
        for task in list(state.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    app.on_cleanup.append(_cleanup)
    return app
