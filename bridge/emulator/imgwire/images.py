"""The Imgwire emulator's records: images, their status over time, download jobs, tokens.

Status is a function of the clock: ``PENDING`` until the bytes land, ``PROCESSING`` for the
configured processing time, then ``READY`` or ``QUARANTINE``. The verdict is decided when the
bytes land, from the bytes: not an image of the declared type, a ``hash_sha256`` that does
not match, or a name in the fault settings' ``fail_files`` means quarantine.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from bridge.emulator.imgwire.files import ImageFacts
from bridge.emulator.imgwire.validate import MetadataValue, UploadRequest

Verdict = Literal["READY", "QUARANTINE"]
_DELIVERABLE = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"})
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/jxl": "jxl",
    "image/png": "png",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/gif": "gif",
    "image/vnd.microsoft.icon": "ico",
    "image/heic": "heic",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Landed:
    """The bytes of an image, once they arrived and were judged."""

    path: Path
    size: int
    sha256: str
    facts: ImageFacts
    verdict: Verdict
    at: float  # the emulator clock (monotonic seconds)
    wall: datetime


@dataclass
class Image:
    id: str
    environment_id: str
    request: UploadRequest
    mime_type: str
    created_at: datetime
    upload_token_id: str | None = None
    landed: Landed | None = None
    fetching: bool = False  # upload_via_url: the emulator is fetching the source
    deleted_at: datetime | None = None

    def status(self, now: float, processing_s: float) -> str:
        if self.landed is None:
            return "PENDING"
        if now < self.landed.at + processing_s:
            return "PROCESSING"
        return self.landed.verdict

    def to_json(self, now: float, processing_s: float, cdn_base: str) -> dict[str, object]:
        status = self.status(now, processing_s)
        landed = self.landed
        processed = landed is not None and status in ("READY", "QUARANTINE")
        updated = self.created_at
        processed_at = None
        if landed is not None:
            updated = landed.wall
            if processed:
                processed_at = landed.wall + timedelta(seconds=processing_s)
                updated = processed_at
        if self.deleted_at is not None:
            updated = self.deleted_at
        name = self.request.file_name
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        metadata: dict[str, MetadataValue] = dict(self.request.custom_metadata)
        return {
            "id": self.id,
            "environment_id": self.environment_id,
            "upload_token_id": self.upload_token_id,
            "original_filename": name,
            "hash_sha256": self.request.hash_sha256,
            "status": status,
            "cdn_url": f"{cdn_base}/{self.environment_id}/{self.id}",
            "mime_type": self.mime_type,
            "can_upload": landed is None and not self.fetching,
            "is_directly_deliverable": self.mime_type in _DELIVERABLE,
            "idempotency_key": self.request.idempotency_key,
            "purpose": self.request.purpose,
            "extension": suffix or _EXTENSIONS[self.mime_type],
            "width": landed.facts.width if processed and landed else 0,
            "height": landed.facts.height if processed and landed else 0,
            "size_bytes": landed.size if processed and landed else 0,
            "custom_metadata": metadata,
            "exif_data": {},
            "created_at": iso(self.created_at),
            "updated_at": iso(updated),
            "deleted_at": iso(self.deleted_at) if self.deleted_at else None,
            "processed_metadata_at": iso(processed_at) if processed_at else None,
        }


@dataclass
class DownloadJob:
    id: str
    environment_id: str
    image_ids: list[str]
    created_at: datetime
    started: float
    archive_key: str | None  # None: the job fails (an image had no deliverable bytes)
    built: bool = False

    def status(self, now: float, processing_s: float) -> str:
        if now < self.started + processing_s / 10:
            return "PENDING"
        if now < self.started + processing_s or not self.built:
            return "PROCESSING"
        return "READY" if self.archive_key is not None else "FAILED"


@dataclass
class UploadToken:
    id: str
    token: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass
class Library:
    """Every image, job and token of one emulator instance, plus what was uploaded when."""

    environment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    images: dict[str, Image] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key -> image id
    jobs: dict[str, DownloadJob] = field(default_factory=dict)
    tokens: dict[str, UploadToken] = field(default_factory=dict)  # token text -> token
    uploads: list[dict[str, object]] = field(default_factory=list)  # one entry per stored PUT
    repeats: int = 0  # standard uploads answered from an idempotency key

    def live(self, image_id: str) -> Image | None:
        image = self.images.get(image_id)
        return image if image is not None and image.deleted_at is None else None

    def new_token(self, now: datetime) -> UploadToken:
        token = UploadToken(
            str(uuid.uuid4()), secrets.token_urlsafe(24), now, now + timedelta(hours=1)
        )
        self.tokens[token.token] = token
        return token

    def newest_first(self) -> list[Image]:
        alive = [image for image in self.images.values() if image.deleted_at is None]
        return sorted(alive, key=lambda image: image.created_at, reverse=True)


def now_utc() -> datetime:
    return datetime.now(UTC)
