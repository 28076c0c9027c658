"""The ImageKit emulator's media library: files, their versions, and a log of uploads."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bridge.emulator.imgwire.files import ImageFacts

MAX_VERSIONS = 100
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int = 24) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class Version:
    id: str
    number: int
    path: Path
    size: int
    sha256: str
    facts: ImageFacts
    created_at: datetime


@dataclass
class StoredFile:
    file_id: str
    name: str
    folder: str  # "/" or "/a/b"
    versions: list[Version]
    tags: list[str] | None
    custom_metadata: dict[str, object]
    custom_coordinates: str | None
    is_private: bool
    created_at: datetime
    updated_at: datetime
    ai_tags: list[dict[str, object]] | None = None

    @property
    def file_path(self) -> str:
        return f"{self.folder.rstrip('/')}/{self.name}"

    @property
    def current(self) -> Version:
        return self.versions[-1]


@dataclass
class MediaLibrary:
    files: dict[str, StoredFile] = field(default_factory=dict)
    by_path: dict[str, str] = field(default_factory=dict)  # filePath -> fileId
    uploads: list[dict[str, object]] = field(default_factory=list)  # one per stored upload

    def at(self, file_path: str) -> StoredFile | None:
        file_id = self.by_path.get(file_path)
        return self.files.get(file_id) if file_id is not None else None

    def add(self, stored: StoredFile) -> None:
        self.files[stored.file_id] = stored
        self.by_path[stored.file_path] = stored.file_id

    def remove(self, file_id: str) -> StoredFile | None:
        stored = self.files.pop(file_id, None)
        if stored is not None:
            self.by_path.pop(stored.file_path, None)
            for version in stored.versions:
                version.path.unlink(missing_ok=True)
        return stored

    def folders(self) -> set[str]:
        """Every folder that holds a file, and their parents (created implicitly)."""
        found: set[str] = set()
        for stored in self.files.values():
            parts = [p for p in stored.folder.split("/") if p]
            for depth in range(1, len(parts) + 1):
                found.add("/" + "/".join(parts[:depth]))
        return found
