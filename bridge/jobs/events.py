"""What an edit run reports while it works and when it ends; plain data, no UI.

The CLI draws these as progress bars; a job engine or the HTTP server can
store or stream the same events. Photos are reported one by one, so a run in
which some files failed still says exactly which ones and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from bridge.jobs.plan import Photo

Phase = Literal["create", "upload", "edit", "download", "export", "done", "failed"]


@dataclass(frozen=True)
class ProjectPhase:
    """Project ``project`` (1-based plan index) entered ``phase``."""

    project: int
    phase: Phase
    detail: str | None = None


@dataclass(frozen=True)
class ServerStatus:
    """A status poll answered: Imagen's own words and its 0-100 progress, if it gave one."""

    project: int
    step: Literal["edit", "export"]
    status: str
    progress: float | None


@dataclass(frozen=True)
class FileBytes:
    """``done`` of ``total`` bytes of one file moved; ``done`` drops back when a try restarts."""

    project: int
    direction: Literal["upload", "download"]
    name: str
    done: int
    total: int


@dataclass(frozen=True)
class PhotoUploaded:
    """The store accepted this photo's file (not merely: its bytes were sent)."""

    project: int
    name: str
    size: int


class PhotoStatus(StrEnum):
    EDITED = "edited"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PhotoResult:
    photo: Photo
    project: int
    status: PhotoStatus
    outputs: tuple[Path, ...] = ()
    exports: tuple[Path, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.photo.path),
            "project": self.project,
            "status": self.status.value,
            "outputs": [str(p) for p in self.outputs],
            "exports": [str(p) for p in self.exports],
            "error": self.error,
        }


@dataclass(frozen=True)
class PhotoFinished:
    result: PhotoResult


RunEvent = ProjectPhase | ServerStatus | FileBytes | PhotoUploaded | PhotoFinished
EventSink = Callable[[RunEvent], None]


@dataclass(frozen=True)
class RunResult:
    """Every photo's outcome, in plan order, and where the outputs went."""

    out_dir: Path
    photos: tuple[PhotoResult, ...]
    projects: int = 0
    extras: tuple[Path, ...] = field(default=())  # outputs that matched no photo, kept

    @property
    def ok(self) -> bool:
        return all(r.status is PhotoStatus.EDITED for r in self.photos)

    def count(self, status: PhotoStatus) -> int:
        return sum(1 for r in self.photos if r.status is status)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "out_dir": str(self.out_dir),
            "projects": self.projects,
            "edited": self.count(PhotoStatus.EDITED),
            "failed": self.count(PhotoStatus.FAILED),
            "cancelled": self.count(PhotoStatus.CANCELLED),
            "photos": [r.to_json() for r in self.photos],
            "unmatched_outputs": [str(p) for p in self.extras],
        }
