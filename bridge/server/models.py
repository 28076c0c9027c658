"""The API's own shapes beside the job models of :mod:`bridge.jobs.models`: health,
profiles, and the merge command's requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bridge.jobs.models import MAX_PHOTOS
from bridge.xmp.sidecar import Naming

API_VERSION = 1


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    api_version: int = API_VERSION
    backend: Literal["emulator", "imagen"]
    api_key_configured: bool
    uptime_s: float
    pid: int


class ProfileView(BaseModel):
    """One Imagen profile, in Imagen's own field names; ``image_type`` is RAW, JPG or null."""

    profile_key: int
    profile_name: str | None = None
    profile_type: str | None = None
    image_type: str | None = None


class ProfileList(BaseModel):
    profiles: list[ProfileView]


def _local_absolute(value: str) -> str:
    """Merges read and write this machine's files, so the path must be absolute here."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    if not Path(value).is_absolute():
        raise ValueError("must be an absolute path")
    return value


LocalPath = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(_local_absolute)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MergeRequest(_Strict):
    """``imagen-bridge merge SOURCES --into INTO`` as JSON."""

    sources: Annotated[list[LocalPath], Field(min_length=1, max_length=MAX_PHOTOS)]
    into: LocalPath
    recursive: bool = False
    naming: Naming = Naming.ADOBE
    dry_run: bool = False


class UndoRequest(_Strict):
    """One merge to undo: by id, or the most recent one (``last``)."""

    merge_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    last: bool = False

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.merge_id is not None) == self.last:
            raise ValueError("give exactly one of merge_id or last: true")
        return self
