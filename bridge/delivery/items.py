"""What is delivered: a local file plus the stable identity a retry or a restart reuses.

A job's photo is identified by (job id, photo index); a loose file by its content. The
identity makes Imgwire's ``idempotency_key`` and the metadata attached to every upload, so
delivering the same photo again never makes a second remote copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from bridge.transfer.files import CHUNK_SIZE

MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class DeliveryItem:
    """One file to deliver. ``job_id``/``photo`` come from the job store, when there is one."""

    path: Path
    job_id: str | None = None
    photo: int | None = None
    profile: str | None = None

    def idempotency_key(self, sha256: str) -> str:
        """Stable across retries and restarts: the job and photo, or else the file itself."""
        if self.job_id is not None and self.photo is not None:
            key = f"imagen-bridge:{self.job_id}:{self.photo}"
            if len(key) <= MAX_KEY_CHARS:
                return key
            material = json.dumps([self.job_id, self.photo])
            return "imagen-bridge:" + hashlib.sha256(material.encode()).hexdigest()
        # A loose file: its content and name (two copies of one photo are two images).
        material = json.dumps([sha256, self.path.name], ensure_ascii=False)
        return "imagen-bridge:file:" + hashlib.sha256(material.encode()).hexdigest()

    def metadata(self) -> dict[str, str | int]:
        """``job``, ``photo`` and ``profile``: what a photographer's gallery can sort by."""
        found: dict[str, str | int] = {}
        if self.job_id is not None:
            found["job"] = self.job_id
        if self.photo is not None:
            found["photo"] = self.photo
        if self.profile is not None:
            found["profile"] = self.profile
        return found


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str


def _digest(path: Path) -> FileFacts:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return FileFacts(size, digest.hexdigest())


async def file_facts(path: Path) -> FileFacts:
    """Size and SHA-256, read in chunks in a worker thread (never the whole file at once)."""
    return await asyncio.to_thread(_digest, path)
