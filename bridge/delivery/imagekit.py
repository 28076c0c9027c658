"""ImageKit's server upload and file APIs, with uploads that never make a second file.

Why not the official ``imagekitio`` SDK: it reads a file given as a path whole into memory
(``Path.read_bytes``), retries an upload POST on 5xx and dropped connections with no
idempotency of any kind (so a lost answer becomes a second file), offers no hook to look up
before retrying, and it is not among the bridge's runtime dependencies. Its ``base_url``
override is honoured here too: uploads go to ``{base}/api/v1/files/upload`` and the rest to
``{base}/v1/...``, or to ImageKit's own two hosts without one.

Exactly once: the file name is sent already cleaned by ImageKit's rules with
``useUniqueFileName=false``, so its path is known; the overwrite policy is explicit; after
an ambiguous failure the path is looked up, and a file found there with our size (and our
metadata, and for an overwrite a version newer than the one seen before) is the upload.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge import __version__
from bridge.closing import AsyncClosing
from bridge.delivery.checks import local_file_problem, require_size, suffix_of
from bridge.delivery.errors import DeliveryAuthError, DeliveryError, DeliveryRefused
from bridge.delivery.http import DELIVERY_RETRY, Reply, ServiceApi, check_key
from bridge.delivery.imagekit_rules import (
    SUPPORTED_SUFFIXES,
    Checked,
    ImagekitOptions,
    check_options,
    clean_file_name,
)
from bridge.delivery.items import DeliveryItem
from bridge.delivery.multipart import MultipartBody
from bridge.delivery.results import DeliveryResult
from bridge.transfer import ProgressCallback, RetryPolicy
from bridge.transfer.progress import ByteCounter

UPLOAD_HOST = "https://upload.imagekit.io"
API_HOST = "https://api.imagekit.io"
SERVICE = "ImageKit"
_ALREADY_THERE = "already exists"


class ImagekitFile(BaseModel):
    """The fields of an upload answer or a File object the bridge reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    file_id: str = Field(alias="fileId")
    name: str
    file_path: str = Field(alias="filePath")
    url: str | None = None
    size: int | None = None
    version_info: dict[str, str] | None = Field(default=None, alias="versionInfo")
    tags: list[str] | None = None
    custom_metadata: dict[str, Any] = Field(default_factory=dict, alias="customMetadata")
    is_private_file: bool | None = Field(default=None, alias="isPrivateFile")

    @property
    def version(self) -> str | None:
        return (self.version_info or {}).get("id")


class ImagekitClient(AsyncClosing):
    """Async client of ImageKit's upload and media APIs (``async with``)."""

    target: Literal["imagekit"] = "imagekit"

    def __init__(
        self,
        private_key: str,
        *,
        base_url: str | None = None,
        key_source: str = "the configured ImageKit private key",
        options: ImagekitOptions = ImagekitOptions(),  # noqa: B008 - frozen dataclass
        retry: RetryPolicy = DELIVERY_RETRY,
        concurrency: int = 8,
        logger: logging.Logger | None = None,
    ) -> None:
        key = check_key(private_key, service=SERVICE, source=key_source)
        if not key.startswith("private_"):
            raise DeliveryAuthError(
                f"The ImageKit key from {key_source} is not a private key (private_...): "
                "server uploads need the private API key, never the public one."
            )
        if base_url is None:
            self._upload_url = f"{UPLOAD_HOST}/api/v1/files/upload"
            self._api_base = f"{API_HOST}/v1"
        else:
            base = base_url.rstrip("/")
            self._upload_url = f"{base}/api/v1/files/upload"
            self._api_base = f"{base}/v1"
        self.options = options
        auth = base64.b64encode(f"{key}:".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {auth}", "User-Agent": f"imagen-bridge/{__version__}"}
        self._api = ServiceApi(
            SERVICE, headers=headers, key_source=key_source, secret=key, retry=retry,
            max_connections=concurrency, logger=logger,
        )  # fmt: skip
        self._checked, self._problems = check_options(options)

    def __repr__(self) -> str:
        return f"ImagekitClient(upload_url={self._upload_url!r})"

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- checks before sending --------------------------------------------------------

    def check(self, item: DeliveryItem) -> list[str]:
        """Every reason ``item`` cannot go with these options, found without the network."""
        problems = list(self._problems)
        problem = local_file_problem(item.path)
        if problem:
            return [*problems, problem]
        if suffix_of(item.path) not in SUPPORTED_SUFFIXES:
            kinds = " ".join(sorted(SUPPORTED_SUFFIXES))
            problems.append(f"{item.path}: not an image type ImageKit takes ({kinds})")
        size = item.path.stat().st_size
        if size > self.options.max_file_size:
            problems.append(
                f"{item.path}: {size / 2**20:.1f} MB is over the plan's limit of "
                f"{self.options.max_file_mb:g} MB per file"
            )
        return problems

    def destination(self, item: DeliveryItem) -> str | None:
        """The exact path the file will have: the folder and the cleaned name."""
        if self._checked is None:
            return None
        return f"{self._checked.folder.rstrip('/')}/{clean_file_name(item.path.name)}"

    def changes_for(self, item: DeliveryItem) -> tuple[str, ...]:
        """What ImageKit's rules change for ``item`` (its name, the folder), in words."""
        assert self._checked is not None
        changes = list(self._checked.changes)
        cleaned = clean_file_name(item.path.name)
        if cleaned != item.path.name:
            changes.append(f"file name {item.path.name!r} becomes {cleaned!r}")
        return tuple(changes)

    # -- delivery -----------------------------------------------------------------------

    async def deliver(
        self, item: DeliveryItem, *, on_progress: ProgressCallback | None = None
    ) -> DeliveryResult:
        """Upload ``item`` exactly once to ``folder/cleaned name``."""
        problems = self.check(item)
        if problems:
            raise DeliveryRefused(problems)
        checked = self._checked
        assert checked is not None
        name = clean_file_name(item.path.name)
        path = self.destination(item)
        # No hash: ImageKit takes none, and reading every file twice costs what the SDK saves
        # by uploading one at a time. The size is what the look-up after a failure compares.
        size = (await asyncio.to_thread(item.path.stat)).st_size
        metadata = item.metadata() if self.options.custom_metadata else {}
        before = await self.find(checked.folder, name) if self.options.overwrite else None
        fields = self._fields(name, checked, metadata)
        progress = ByteCounter(on_progress, "upload", item.path.name, size)
        progress.start()

        def ours(found: ImagekitFile | None) -> ImagekitFile | None:
            if found is None or found.size != size:
                return None
            if any(found.custom_metadata.get(k) != v for k, v in metadata.items()):
                return None
            if before is not None and found.version == before.version:
                return None  # still the old version: ours has not landed
            return found

        async def attempt() -> ImagekitFile:
            progress.set(0, 0)
            await require_size(item.path, size)
            suffix = suffix_of(item.path)
            body = MultipartBody(
                fields, file_field="file", path=item.path, size=size,
                mime=SUPPORTED_SUFFIXES[suffix], part_name=f"upload{suffix}",
            )  # fmt: skip
            reply = await self._api.send(
                "POST",
                self._upload_url,
                content=lambda: body.stream(lambda n: progress.add(0, n)),
                headers={"Content-Type": body.content_type, "Content-Length": str(body.length)},
                label=f"upload of {name}",
            )
            return _file(reply)

        already = False

        async def settle() -> ImagekitFile | None:
            nonlocal already
            found = ours(await self.find(checked.folder, name))
            already = found is not None
            return found

        try:
            uploaded = await self._api.retrying(
                f"upload of {name}", attempt, safety="once", settle=settle
            )
        except DeliveryError as error:
            # Never overwriting: the path is taken. By this very photo (an earlier run, or a
            # try whose answer was lost)? Then it is delivered; otherwise say so.
            if error.status != 400 or _ALREADY_THERE not in (error.server_words or ""):
                raise
            found = ours(await self.find(checked.folder, name))
            if found is None:
                raise DeliveryError(
                    f"ImageKit already has a different file at {path} ({error.server_words}); "
                    "deliver with overwrite to replace it, or to another folder",
                    status=400,
                    server_words=error.server_words,
                ) from None
            uploaded, already = found, True
        progress.finish()
        return DeliveryResult(
            target="imagekit",
            source=str(item.path),
            ok=True,
            status="stored",
            file_name=uploaded.name,
            remote_id=uploaded.file_id,
            remote_path=uploaded.file_path,
            url=uploaded.url,
            size=size,
            metadata=metadata,
            changes=self.changes_for(item),
            already_there=already,
        )

    def _fields(
        self, name: str, checked: Checked, metadata: dict[str, str | int]
    ) -> list[tuple[str, str]]:
        overwrite = "true" if self.options.overwrite else "false"
        fields = [
            ("fileName", name),
            ("useUniqueFileName", "false"),
            ("folder", checked.folder),
            ("isPrivateFile", "true" if self.options.private else "false"),
            ("overwriteFile", overwrite),
            ("overwriteAITags", "true"),
            ("overwriteTags", "true"),
            ("overwriteCustomMetadata", "true"),
            ("responseFields", "tags,customMetadata,isPrivateFile"),
        ]
        if checked.tags:
            fields.append(("tags", ",".join(checked.tags)))
        if metadata:
            fields.append(("customMetadata", json.dumps(metadata, ensure_ascii=False)))
        return fields

    # -- the file APIs ------------------------------------------------------------------

    async def find(self, folder: str, name: str) -> ImagekitFile | None:
        """The file at exactly ``folder/name``, or None."""
        query = f'name = "{_escaped(name)}"'
        reply = await self._api.call(
            "GET",
            f"{self._api_base}/files",
            params={"path": folder, "searchQuery": query, "type": "file"},
            label=f"look-up of {name}",
        )
        target = f"{folder.rstrip('/')}/{name}"
        for found in _files(reply):
            if found.file_path == target:
                return found
        return None

    async def get(self, file_id: str) -> ImagekitFile:
        reply = await self._api.call(
            "GET", f"{self._api_base}/files/{_seg(file_id)}/details", label=f"details of {file_id}"
        )
        return _file(reply)

    async def list_files(
        self,
        *,
        path: str | None = None,
        search_query: str | None = None,
        limit: int = 1000,
        skip: int = 0,
    ) -> list[ImagekitFile]:
        params: dict[str, str | int] = {"type": "file", "limit": limit, "skip": skip}
        if path is not None:
            params["path"] = path
        if search_query is not None:
            params["searchQuery"] = search_query
        reply = await self._api.call(
            "GET", f"{self._api_base}/files", params=params, label="list files"
        )
        return _files(reply)

    async def delete(self, file_id: str) -> None:
        await self._api.call(
            "DELETE", f"{self._api_base}/files/{_seg(file_id)}", label=f"delete {file_id}"
        )

    async def bulk_delete(self, file_ids: list[str]) -> list[str]:
        if not 1 <= len(file_ids) <= 100:
            raise DeliveryRefused(["bulk delete takes 1 to 100 file ids"])
        reply = await self._api.call(
            "POST",
            f"{self._api_base}/files/batch/deleteByFileIds",
            json={"fileIds": file_ids},
            label="bulk delete",
        )
        deleted = (
            reply.json().get("successfullyDeletedFileIds")
            if isinstance(reply.json(), dict)
            else None
        )
        if not isinstance(deleted, list):
            raise DeliveryError("ImageKit's bulk delete answer has no successfullyDeletedFileIds")
        return [str(file_id) for file_id in deleted]


def _escaped(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _seg(value: str) -> str:
    if not value:
        raise DeliveryRefused(["a file id must not be empty"])
    return quote(value, safe="")


def _file(reply: Reply) -> ImagekitFile:
    try:
        return ImagekitFile.model_validate(reply.json())
    except ValidationError as exc:
        raise DeliveryError(
            f"ImageKit sent a file in an unexpected shape ({exc.errors()[0]['msg']})"
        ) from None


def _files(reply: Reply) -> list[ImagekitFile]:
    data = reply.json()
    if not isinstance(data, list):
        raise DeliveryError("ImageKit's file list is not a list")
    found = []
    for entry in data:
        if isinstance(entry, dict) and entry.get("type", "file") in ("file", "file-version"):
            try:
                found.append(ImagekitFile.model_validate(entry))
            except ValidationError:
                continue
    return found


__all__ = ["ImagekitClient", "ImagekitFile", "ImagekitOptions"]
