"""Imgwire's Images API: standard uploads streamed from disk, followed until ``READY``.

A delivery is ``POST standard_upload`` (with ``hash_sha256`` and an ``idempotency_key``
derived from the photo, so a repeated creation returns the same image), a ``PUT`` of the
file to the presigned ``upload_url`` with the declared ``Content-Type``, then polling the
image until ``READY`` or ``QUARANTINE``. Also: get, list (paged by ``X-*`` headers), delete,
bulk delete, upload via URL, and bulk download jobs whose archive is fetched with
:class:`bridge.transfer.Transfer` (resumed on drops, published atomically).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from bridge import __version__
from bridge.closing import AsyncClosing
from bridge.delivery.checks import local_file_problem, require_size, suffix_of
from bridge.delivery.errors import DeliveryError, DeliveryRefused
from bridge.delivery.http import DELIVERY_RETRY, ServiceApi, check_key
from bridge.delivery.items import DeliveryItem, file_facts
from bridge.delivery.results import DeliveryResult
from bridge.transfer import ProgressCallback, RetryPolicy, Transfer
from bridge.transfer.files import read_range
from bridge.transfer.progress import ByteCounter

PRODUCTION_URL = "https://api.imgwire.dev"
SERVICE = "Imgwire"
# Imgwire's SupportedMimeType, by the suffixes that name them.
MIME_BY_SUFFIX = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jxl": "image/jxl",
    ".png": "image/png",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".gif": "image/gif",
    ".ico": "image/vnd.microsoft.icon",
    ".heic": "image/heic",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
FINAL = frozenset({"READY", "QUARANTINE"})
_T = TypeVar("_T")


class ImgwireImage(BaseModel):
    """The fields of Imgwire's ImageSchema the bridge reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: str
    cdn_url: str
    original_filename: str
    mime_type: str
    can_upload: bool
    width: int
    height: int
    size_bytes: int
    custom_metadata: dict[str, str | int | float | bool]
    hash_sha256: str | None = None
    idempotency_key: str | None = None


class DownloadJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: str
    image_ids: list[str]
    download_url: str | None = None


_Followed = TypeVar("_Followed", ImgwireImage, DownloadJob)


@dataclass(frozen=True)
class ImagePage:
    images: list[ImgwireImage]
    total: int
    page: int
    limit: int
    next_page: int | None


@dataclass(frozen=True)
class WaitPolicy:
    """How long to follow an image or a download job, and how often to look."""

    timeout_s: float = 600.0
    first_interval_s: float = 0.1
    max_interval_s: float = 2.0


class ImgwireClient(AsyncClosing):
    """Async client of Imgwire's Images API. Use as ``async with ImgwireClient(...) as c:``.

    The key goes in ``Authorization: Bearer`` on API calls only; the presigned PUTs and the
    archive downloads travel without it. It is never logged or put in an error.
    """

    target: Literal["imgwire"] = "imgwire"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        key_source: str = "the configured Imgwire key",
        purpose: str = "imagen-bridge delivery",
        retry: RetryPolicy = DELIVERY_RETRY,
        wait: WaitPolicy = WaitPolicy(),
        concurrency: int = 8,
        logger: logging.Logger | None = None,
    ) -> None:
        key = check_key(api_key, service=SERVICE, source=key_source)
        self.base_url = base_url.rstrip("/")
        self._images = f"{self.base_url}/api/v1/images"
        self._purpose = purpose
        self._wait = wait
        self._log = logger or logging.getLogger("bridge.delivery")
        headers = {"Authorization": f"Bearer {key}", "User-Agent": f"imagen-bridge/{__version__}"}
        common: dict[str, Any] = {"retry": retry, "max_connections": concurrency, "logger": logger}
        self._api = ServiceApi(
            SERVICE, headers=headers, key_source=key_source, secret=key, **common
        )
        # Presigned PUTs: no default headers, so the key never travels to storage.
        self._storage = ServiceApi(
            f"{SERVICE} storage", headers={}, key_source="", secret="", keyed=False, **common
        )
        self._retry = retry
        self._concurrency = concurrency

    def __repr__(self) -> str:
        return f"ImgwireClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._storage.aclose()

    # -- checks before sending --------------------------------------------------------

    def check(self, item: DeliveryItem) -> list[str]:
        """Every reason ``item`` cannot be delivered, found without any network call."""
        problem = local_file_problem(item.path)
        if problem:
            return [problem]
        if suffix_of(item.path) not in MIME_BY_SUFFIX:
            kinds = " ".join(sorted(MIME_BY_SUFFIX))
            return [f"{item.path}: Imgwire does not take this file type (it takes {kinds})"]
        return []

    def destination(self, item: DeliveryItem) -> str | None:
        return None  # Imgwire keys images by id: equal names never collide

    # -- delivery -----------------------------------------------------------------------

    async def deliver(
        self, item: DeliveryItem, *, on_progress: ProgressCallback | None = None
    ) -> DeliveryResult:
        """Upload ``item`` exactly once and follow it to ``READY`` (or ``QUARANTINE``).

        Raises DeliveryRefused for a file that cannot go, DeliveryError for a failure.
        """
        problems = self.check(item)
        if problems:
            raise DeliveryRefused(problems)
        name = item.path.name
        mime = MIME_BY_SUFFIX[suffix_of(item.path)]
        facts = await file_facts(item.path)
        key = item.idempotency_key(facts.sha256)
        metadata = item.metadata()
        request = {
            "file_name": name,
            "mime_type": mime,
            "content_length": facts.size,
            "purpose": self._purpose,
            "custom_metadata": metadata,
            "hash_sha256": facts.sha256,
            "idempotency_key": key,
        }
        image, upload_url = await self._create(request, name)
        already = image.status != "PENDING" or not image.can_upload
        if not already:
            await self._put(item.path, upload_url, image, facts.size, mime, request, on_progress)
        final = await self.wait_ready(image.id, name=name)
        ready = final.status == "READY"
        return DeliveryResult(
            target="imgwire",
            source=str(item.path),
            ok=ready,
            status=final.status,
            file_name=final.original_filename,
            remote_id=final.id,
            url=final.cdn_url,
            size=facts.size,
            sha256=facts.sha256,
            idempotency_key=key,
            metadata=metadata,
            error=None if ready else f"Imgwire put {name} in QUARANTINE: it is not delivered",
            already_there=already,
        )

    async def _create(self, request: dict[str, Any], name: str) -> tuple[ImgwireImage, str]:
        # Repeatable: the idempotency key makes a repeated creation return the same image.
        reply = await self._api.call(
            "POST",
            f"{self._images}/standard_upload",
            json=request,
            label=f"standard upload of {name}",
        )
        data = reply.json()
        if not isinstance(data, dict) or not isinstance(data.get("upload_url"), str):
            raise DeliveryError(f"Imgwire's answer to the upload of {name} has no upload_url")
        return _parse(ImgwireImage, data.get("image"), "the new image"), data["upload_url"]

    async def _put(
        self,
        path: Path,
        url: str,
        image: ImgwireImage,
        size: int,
        mime: str,
        request: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        """Stream the file to the presigned URL; an expired or refused link is fetched anew."""
        progress = ByteCounter(on_progress, "upload", path.name, size)
        progress.start()
        link = url

        async def attempt() -> bool:
            progress.set(0, 0)
            await require_size(path, size)
            handle = await asyncio.to_thread(path.open, "rb")
            try:
                await self._storage.send(
                    "PUT",
                    link,
                    content=lambda: read_range(handle, 0, size, lambda n: progress.add(0, n)),
                    headers={"Content-Type": mime, "Content-Length": str(size)},
                    label=f"upload of {path.name}",
                )
            finally:
                handle.close()
            return True

        async def landed() -> bool | None:
            """After an ambiguous failure: did the bytes arrive anyway? Then do not resend."""
            return True if (await self.get(image.id)).status != "PENDING" else None

        for refresh in (True, False):
            try:
                await self._storage.retrying(
                    f"upload of {path.name}", attempt, safety="once", settle=landed
                )
                break
            except DeliveryError as error:
                if not (refresh and error.status == 403):
                    raise
                current = await self.get(image.id)
                if current.status != "PENDING":
                    break  # the bytes landed after all
                _, link = await self._create(request, path.name)
        progress.finish()

    async def wait_ready(self, image_id: str, *, name: str | None = None) -> ImgwireImage:
        """Follow the image until ``READY`` or ``QUARANTINE`` (``PENDING`` is not done)."""
        what = name or image_id
        return await self._follow(
            lambda: self.get(image_id), lambda image: image.status in FINAL, f"{what} in Imgwire"
        )

    async def _follow(
        self, look: Callable[[], Awaitable[_Followed]], done: Callable[[_Followed], bool], what: str
    ) -> _Followed:
        deadline = time.monotonic() + self._wait.timeout_s
        interval = self._wait.first_interval_s
        while True:
            current = await look()
            if done(current):
                return current
            if time.monotonic() >= deadline:
                raise DeliveryError(
                    f"{what} is still {current.status} after {self._wait.timeout_s:g} s; "
                    "it may still finish, look again later",
                    retryable=True,
                )
            await asyncio.sleep(interval)
            interval = min(self._wait.max_interval_s, interval * 1.5)

    # -- the rest of the Images API ---------------------------------------------------

    async def get(self, image_id: str) -> ImgwireImage:
        reply = await self._api.call(
            "GET", f"{self._images}/{_seg(image_id)}", label=f"get {image_id}"
        )
        return _parse(ImgwireImage, reply.json(), "the image")

    async def list_page(self, *, page: int = 1, limit: int = 20) -> ImagePage:
        if page < 1 or not 1 <= limit <= 100:
            raise DeliveryRefused([f"page must be >= 1 and limit 1..100 (got {page}, {limit})"])
        reply = await self._api.call(
            "GET", f"{self._images}/", params={"page": page, "limit": limit}, label="list images"
        )
        images = _parse(list[ImgwireImage], reply.json(), "the image list")
        headers = reply.headers
        return ImagePage(
            images=images,
            total=_header_int(headers, "X-Total-Count") or len(images),
            page=_header_int(headers, "X-Page") or page,
            limit=_header_int(headers, "X-Limit") or limit,
            next_page=_header_int(headers, "X-Next-Page"),
        )

    async def list_all(self, *, limit: int = 100) -> AsyncIterator[ImgwireImage]:
        """Every image, page by page, following ``X-Next-Page`` until there is none."""
        page: int | None = 1
        seen: set[int] = set()
        while page is not None and page not in seen:
            seen.add(page)
            result = await self.list_page(page=page, limit=limit)
            for image in result.images:
                yield image
            page, limit = result.next_page, result.limit

    async def delete(self, image_id: str) -> dict[str, str]:
        reply = await self._api.call(
            "DELETE", f"{self._images}/{_seg(image_id)}", label=f"delete {image_id}"
        )
        return _parse(dict[str, str], reply.json(), "the delete answer")

    async def bulk_delete(self, image_ids: list[str]) -> dict[str, str]:
        if not image_ids:
            raise DeliveryRefused(["bulk delete needs at least one image id"])
        reply = await self._api.call(
            "POST",
            f"{self._images}/bulk_delete",
            json={"image_ids": image_ids},
            label="bulk delete",
        )
        return _parse(dict[str, str], reply.json(), "the bulk delete answer")

    async def upload_via_url(
        self,
        url: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        custom_metadata: dict[str, str | int] | None = None,
        idempotency_key: str | None = None,
        wait: bool = True,
    ) -> ImgwireImage:
        """Have Imgwire fetch ``url``; with ``wait``, follow the image until it is final."""
        body: dict[str, Any] = {"url": url, "purpose": self._purpose}
        for field, value in (
            ("file_name", file_name),
            ("mime_type", mime_type),
            ("custom_metadata", custom_metadata),
            ("idempotency_key", idempotency_key),
        ):
            if value is not None:
                body[field] = value
        # Without an idempotency key a blind retry could make a second image.
        send = lambda: self._api.send(  # noqa: E731
            "POST", f"{self._images}/upload_via_url", json=body, label="upload via URL"
        )
        reply = await self._api.retrying(
            "upload via URL", send, safety="repeatable" if idempotency_key else "once"
        )
        image = _parse(ImgwireImage, reply.json(), "the new image")
        return await self.wait_ready(image.id) if wait else image

    async def download(
        self, image_ids: list[str], dest_dir: Path, *, file_name: str | None = None
    ) -> Path:
        """A bulk download job followed until ``READY``, its archive saved in ``dest_dir``."""
        if not image_ids:
            raise DeliveryRefused(["a download job needs at least one image id"])
        reply = await self._api.call(
            "POST", f"{self._images}/downloads", json={"image_ids": image_ids}, label="download job"
        )
        job = _parse(DownloadJob, reply.json(), "the download job")
        job = await self._follow(
            lambda: self.download_job(job.id),
            lambda current: current.status in ("READY", "FAILED"),
            f"download job {job.id}",
        )
        if job.status != "READY" or not job.download_url:
            raise DeliveryError(f"Imgwire download job {job.id} ended {job.status}")
        async with Transfer(concurrency=1, retry=self._retry, logger=self._log) as transfer:
            return await transfer.download(
                job.download_url, dest_dir, file_name or f"imgwire-{job.id}.zip"
            )

    async def download_job(self, job_id: str) -> DownloadJob:
        reply = await self._api.call(
            "GET", f"{self._images}/downloads/{_seg(job_id)}", label=f"download job {job_id}"
        )
        return _parse(DownloadJob, reply.json(), "the download job")


def _seg(value: str) -> str:
    if not value:
        raise DeliveryRefused(["an image or job id must not be empty"])
    return quote(value, safe="")


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    """Imgwire's paging headers: a number, or ``null``/empty for none."""
    value = (headers.get(name) or "").strip()
    if value.lower() in ("", "null", "none"):
        return None
    if not value.isdigit():
        raise DeliveryError(f"Imgwire sent {name}: {value[:40]!r}, not a page number")
    return int(value)


def _parse(shape: type[_T], data: Any, what: str) -> _T:
    try:
        return TypeAdapter(shape).validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise DeliveryError(f"Imgwire sent {what} in an unexpected shape ({problems})") from None
