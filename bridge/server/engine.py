"""What the server needs of the job engine (``bridge.jobs.engine.JobEngine``), as a protocol
so the app can be built around any engine (the real one, or one under test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from bridge.imagen import Profile
from bridge.jobs.models import (
    AppliedRequest,
    JobList,
    JobRequest,
    JobState,
    JobView,
    PhotoList,
    PhotoState,
    PhotoView,
)


class Engine(Protocol):
    backend: str
    api_key_configured: bool

    async def create(
        self, request: JobRequest, *, idempotency_key: str | None = None
    ) -> tuple[JobView, bool]: ...

    async def list_jobs(
        self, states: Sequence[JobState] = (), limit: int = 50, before: str | None = None
    ) -> JobList: ...

    async def get(self, job_id: str) -> JobView: ...

    async def wait(self, job_id: str, since: int, timeout: float) -> JobView: ...  # noqa: ASYNC109

    async def photos(
        self, job_id: str, states: Sequence[PhotoState] = (), settings: bool = True
    ) -> PhotoList: ...

    async def cancel(self, job_id: str) -> JobView: ...

    async def retry(self, job_id: str, indexes: Sequence[int] | None = None) -> JobView: ...

    async def applied(self, job_id: str, report: AppliedRequest) -> PhotoList: ...

    def changes(
        self, job_id: str, since: int | None
    ) -> AsyncIterator[tuple[int, str, JobView | PhotoView]]: ...

    async def profiles(self, refresh: bool = False) -> list[Profile]: ...
