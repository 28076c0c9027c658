"""What the runner records as each step of a project finishes, so a restart can skip it.

The runner calls these hooks; the job engine stores them (``bridge.jobs.store``).
The base class records nothing, for runs that need no resume (tests, benchmarks).
Hooks that are awaited return once the record is durable; ``failed``,
``not_landed`` and ``part_done`` are queued (a restart that lost them only repeats
a little work).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from bridge.imagen import MultipartUpload
from bridge.jobs.flows import Step
from bridge.jobs.plan import Photo


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload that was started and not completed or aborted."""

    upload: MultipartUpload
    part_size: int
    done_parts: frozenset[int]


class Checkpoint:
    """Records nothing; the job engine's subclass makes every hook durable."""

    async def created(self, project: int, uuid: str) -> None:
        """The project exists on Imagen under ``uuid``."""

    async def landing(self, photo: Photo) -> None:
        """The last bytes of the photo's file are about to go: from now on Imagen may hold it."""

    def not_landed(self, photo: Photo) -> None:
        """The file did not land after :meth:`landing` (refused, aborted, never sent)."""

    def in_flight(self) -> AbstractSet[Path]:
        """Photos whose file may have landed in a previous run, without a record of the answer."""
        return frozenset()

    async def uploaded(self, photo: Photo) -> None:
        """The store accepted this photo's file."""

    def failed(self, photo: Photo, reason: str) -> None:
        """The photo ended in failure."""

    async def step(self, project: int, step: Step, stage: str, details: str | None = None) -> None:
        """``step`` (edit or export) reached ``stage``: requested, started or done."""

    async def downloaded(
        self, project: int, step: Step, name: str, photo: Photo | None, path: Path
    ) -> None:
        """An output was published at ``path`` (``photo`` None: it matched no photo)."""

    async def upload_opened(self, photo: Photo, upload: OpenUpload) -> None:
        """A multipart upload began; its links may serve a resumed run."""

    def part_done(self, photo: Photo, number: int) -> None:
        """One part of the photo's open multipart upload landed."""

    async def upload_sent(self, photo: Photo, parts: int) -> None:
        """Every part of the open multipart upload landed; it is about to be completed
        (so, as after :meth:`landing`, Imagen may hold the file from now on)."""

    async def upload_closed(self, photo: Photo) -> None:
        """The open multipart upload was completed or aborted."""

    def keeps_open_uploads(self) -> bool:
        """Whether a cancelled upload stays open for a resumed run (a stop, not a cancel)."""
        return False

    def open_upload(self, photo: Photo) -> OpenUpload | None:
        """The multipart upload a previous run left open for ``photo``, if any."""
        return None
