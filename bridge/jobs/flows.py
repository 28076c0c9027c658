"""The two kinds of Imagen project behind one interface: classic (profile) and Smart Editing.

The runner's steps (create, upload, start, wait, download) are the same for both;
only the endpoints differ, and Smart Editing takes big files in S3 multipart parts
and has no export. Each flow says which endpoints it calls, so the runner holds no
``if smart`` branches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bridge.imagen import (
    EditOptions,
    FileLink,
    I2IEditOptions,
    ImagenClient,
    ImagenError,
    PhotographyType,
    Status,
)

Step = Literal["edit", "export"]


class Flow(Protocol):
    """The endpoints one kind of project uses."""

    @property
    def multipart(self) -> bool:
        """Whether big files go up in S3 multipart parts."""
        ...

    async def create(self, name: str) -> str: ...
    async def find(self, name: str) -> str | None: ...
    async def upload_links(
        self, uuid: str, files: Sequence[tuple[str, str | None]]
    ) -> list[FileLink]: ...
    async def start(self, uuid: str, step: Step) -> None: ...
    def status(self, uuid: str, step: Step) -> Callable[[], Awaitable[Status]]: ...
    async def started(self, uuid: str, step: Step) -> bool | None:
        """Whether ``step`` is known to have started (None: Imagen cannot tell)."""
        ...

    async def download_links(self, uuid: str, step: Step) -> list[FileLink]: ...

    async def images(self, uuid: str) -> int | None:
        """How many files Imagen holds for the project (None: it does not say)."""
        ...


async def _answers(fetch: Callable[[], Awaitable[Status]]) -> bool:
    """Imagen answers a status call with 400 (or 404) before the job started."""
    try:
        await fetch()
    except ImagenError as exc:
        if exc.status in (400, 404):
            return False
        raise
    return True


@dataclass(frozen=True)
class ClassicFlow:
    """A profile edit: projects, upload links, edit, export, download links."""

    client: ImagenClient
    profile_key: int
    photography_type: PhotographyType | None
    options: EditOptions
    multipart: bool = False

    async def create(self, name: str) -> str:
        return await self.client.create_project(name)

    async def find(self, name: str) -> str | None:
        try:
            return await self.client.project_uuid(name)
        except ImagenError as exc:
            if exc.status in (400, 404):
                return None
            raise

    async def upload_links(
        self, uuid: str, files: Sequence[tuple[str, str | None]]
    ) -> list[FileLink]:
        return await self.client.upload_links(uuid, files)

    async def start(self, uuid: str, step: Step) -> None:
        if step == "export":
            await self.client.start_export(uuid)
            return
        await self.client.start_edit(
            uuid,
            self.profile_key,
            photography_type=self.photography_type,
            options=self.options,
        )

    def status(self, uuid: str, step: Step) -> Callable[[], Awaitable[Status]]:
        if step == "export":
            return lambda: self.client.export_status(uuid)
        return lambda: self.client.edit_status(uuid)

    async def started(self, uuid: str, step: Step) -> bool | None:
        return await _answers(self.status(uuid, step))

    async def download_links(self, uuid: str, step: Step) -> list[FileLink]:
        if step == "export":
            return await self.client.export_download_links(uuid)
        return await self.client.edit_download_links(uuid)

    async def images(self, uuid: str) -> int | None:
        return (await self.client.get_project(uuid)).number_of_images


@dataclass(frozen=True)
class SmartFlow:
    """Smart Editing (I2I): JPEGs in, edited JPEGs out; big files in multipart parts."""

    client: ImagenClient
    options: I2IEditOptions
    multipart: bool = True

    async def create(self, name: str) -> str:
        return await self.client.i2i_create_project(name)

    async def find(self, name: str) -> str | None:
        page = await self.client.i2i_list_projects(size=20)
        return next((p.project_uuid for p in page.projects if p.name == name), None)

    async def upload_links(
        self, uuid: str, files: Sequence[tuple[str, str | None]]
    ) -> list[FileLink]:
        return await self.client.i2i_upload_links(uuid, files)

    async def start(self, uuid: str, step: Step) -> None:
        if step == "export":
            raise ValueError("Smart Editing returns JPEGs directly; there is no export step")
        await self.client.i2i_edit(uuid, self.options)

    def status(self, uuid: str, step: Step) -> Callable[[], Awaitable[Status]]:
        return lambda: self.client.i2i_status(uuid)

    async def started(self, uuid: str, step: Step) -> bool | None:
        # an I2I project reads Pending before and after the start: only a repeat's 409 tells
        return None

    async def download_links(self, uuid: str, step: Step) -> list[FileLink]:
        return await self.client.i2i_download_links(uuid)

    async def images(self, uuid: str) -> int | None:
        return (await self.client.i2i_project(uuid)).number_of_images
