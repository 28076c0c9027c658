"""The job's public shapes: what a caller asks for and what it is told, as pydantic models.

The HTTP API validates request bodies with these models and generates its
OpenAPI document from them; the CLI builds the same :class:`JobRequest` from
its flags. Field names are the API contract (``docs/api.md``).
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from bridge.imagen import I2IEditOptions

MAX_PHOTOS = 20_000
MAX_ID_CHARS = 200
MAX_PATH_CHARS = 4096


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELED)


class PhotoState(StrEnum):
    QUEUED = "queued"
    UPLOADING = "uploading"
    EDITING = "editing"
    DOWNLOADING = "downloading"
    MERGING = "merging"
    READY = "ready"
    APPLIED = "applied"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        """No more work for the bridge: the photo is delivered, failed or canceled."""
        return self in _ENDED_PHOTO


_ENDED_PHOTO = frozenset(
    {PhotoState.READY, PhotoState.APPLIED, PhotoState.FAILED, PhotoState.CANCELED}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_path(value: object) -> str:
    """Absolute (POSIX or Windows). Plain validation: a CLI path naming a folder whose bytes
    are not UTF-8 arrives with surrogate escapes, which pydantic's own str check rejects."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if not 1 <= len(value) <= MAX_PATH_CHARS:
        raise ValueError(f"must be 1 to {MAX_PATH_CHARS} characters")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    windows = len(value) > 2 and value[1] == ":" and value[2] in "\\/" and value[0].isalpha()
    if not (value.startswith("/") or windows or value.startswith("\\\\")):
        raise ValueError("must be an absolute path")
    return value


PathText = Annotated[
    str,
    PlainValidator(_check_path),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS}),
]


class PhotoRequest(_Strict):
    """One photo to edit: its file (absolute; POSIX or Windows) and the caller's own id."""

    path: PathText
    id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)] | None = None


class Tools(_Strict):
    """Imagen's AI tools, as the API and the CLI name them; exclusions are Imagen's rules."""

    crop: bool = False
    portrait_crop: bool = False
    headshot_crop: bool = False
    crop_aspect_ratio: Literal["2X3", "4X5", "5X7"] | None = None
    straighten: bool = False
    perspective_correction: bool = False
    subject_mask: bool = False
    smooth_skin: bool = False
    hdr_merge: bool = False
    window_pull: bool = False
    sky_replacement: bool = False
    sky_template: Annotated[int, Field(ge=1)] | None = None

    @field_validator("crop_aspect_ratio", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    def enabled(self) -> list[str]:
        """The switched-on tools, in field order."""
        return [name for name, value in self if value is True]


SMART_TOOLS = tuple(name for name in I2IEditOptions.model_fields if name in Tools.model_fields)
"""The tools Smart Editing takes: Imagen's own list (its I2I options), not a second one."""


class DeliverySpec(_Strict):
    """Where a job's exported JPEGs go once they are ready (Imgwire or ImageKit)."""

    to: Literal["imgwire", "imagekit"]
    folder: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=50)
    ] = Field(default_factory=list)


Naming = Literal["adobe", "darktable"]


class JobSpec(_Strict):
    """How to edit a job's photos: everything a job request says but the photos.

    What the engine stores and runs by; the photos go beside it as columns (see
    :meth:`JobRequest.split`), so ``edit`` never builds a model per photo of 20,000.
    """

    profile_key: Annotated[int, Field(ge=0)] | None = None
    jpeg_profile_key: Annotated[int, Field(ge=0)] | None = None
    """For RAW+JPEG shoots: the JPEGs are edited with this (JPG) profile, the raws with
    ``profile_key``; without it, photos of the kind ``profile_key`` does not edit fail."""
    photography_type: str | None = None
    tools: Tools = Field(default_factory=Tools)
    smart: bool = False
    export: bool = False
    merge: bool = True
    naming: Naming = "adobe"
    md5: bool = False
    """Send each file's MD5 so storage verifies every byte (one extra read of each file)."""
    export_folder: Annotated[str, Field(max_length=1000)] | None = "Imagen Export"
    """Where exports are placed: a folder name beside each original, or an absolute folder;
    null keeps them in the job's output folder only."""
    deliver: DeliverySpec | None = None
    """Deliver each exported JPEG (Smart Editing: each edited JPEG) when it is ready."""
    out_dir: PathText | None = None
    label: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.smart:
            refused = [t for t in self.tools.enabled() if t not in SMART_TOOLS]
            refused += [
                name
                for name, given in (
                    ("profile_key", self.profile_key is not None),
                    ("jpeg_profile_key", self.jpeg_profile_key is not None),
                    ("photography_type", self.photography_type is not None),
                    ("export", self.export),
                    ("crop_aspect_ratio", self.tools.crop_aspect_ratio is not None),
                )
                if given
            ]
            if refused:
                raise ValueError(
                    f"{', '.join(refused)} cannot be used with smart: Smart Editing takes no "
                    f"profile and returns JPEGs directly; its tools are {', '.join(SMART_TOOLS)}"
                )
        elif self.profile_key is None:
            raise ValueError("profile_key is required (or set smart for Smart Editing)")
        if self.deliver is not None and not (self.export or self.smart):
            raise ValueError("deliver needs export (or smart): it delivers the exported JPEGs")
        if self.export_folder is not None and (
            "\x00" in self.export_folder or not self.export_folder.strip()
        ):
            raise ValueError("export_folder must be a folder name or an absolute path")
        return self


class JobRequest(JobSpec):
    """What to edit and how (``POST /v1/jobs``; ``imagen-bridge edit`` builds the same)."""

    photos: Annotated[list[PhotoRequest], Field(min_length=1, max_length=MAX_PHOTOS)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        twice = [i for i, n in Counter(p.id for p in self.photos if p.id).items() if n > 1]
        if twice:
            raise ValueError(f"photo id {twice[0]!r} is given twice; ids must be unique in a job")
        return self

    def split(self) -> tuple[JobSpec, list[str], list[str | None]]:
        """The spec, the photos' paths and their caller ids: what ``JobEngine.create`` takes."""
        fields = {name: getattr(self, name) for name in JobSpec.model_fields}
        paths, ids = [p.path for p in self.photos], [p.id for p in self.photos]
        return JobSpec.model_construct(**fields), paths, ids


class JobError(BaseModel):
    code: str
    message: str


class Counts(BaseModel):
    """Photos per state; every state is always present."""

    queued: int = 0
    uploading: int = 0
    editing: int = 0
    downloading: int = 0
    merging: int = 0
    ready: int = 0
    applied: int = 0
    failed: int = 0
    canceled: int = 0


class SidecarResult(BaseModel):
    status: Literal["created", "updated", "unchanged", "refused", "failed"]
    path: str | None = None
    reason: str | None = None


class JobView(BaseModel):
    id: str
    state: JobState
    revision: int
    label: str | None = None
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    counts: Counts
    photos_total: int
    bytes_done: int
    bytes_total: int
    error: JobError | None = None
    out_dir: str
    merge_id: str | None = None
    unmatched_outputs: list[str] = Field(default_factory=list)
    request: dict[str, Any]


class JobList(BaseModel):
    jobs: list[JobView]
    next: str | None = None


class DeliveryView(BaseModel):
    """What one delivery of the photo's export achieved, in the service's own words."""

    target: Literal["imgwire", "imagekit"]
    ok: bool
    status: str
    file_name: str
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None
    changes: list[str] = Field(default_factory=list)


class PhotoView(BaseModel):
    index: int
    id: str | None = None
    path: str
    kind: Literal["RAW", "DNG", "JPEG"] | None = None
    state: PhotoState
    reason: str | None = None
    revision: int
    bytes_done: int = 0
    bytes_total: int = 0
    outputs: list[str] = Field(default_factory=list)
    exports: list[str] = Field(default_factory=list)
    sidecar: SidecarResult | None = None
    develop_settings: dict[str, Any] | None = None
    hdr_output: str | None = None
    project: int | None = None
    applied_at: str | None = None
    apply_error: str | None = None
    deliveries: list[DeliveryView] = Field(default_factory=list)


class PhotoList(BaseModel):
    photos: list[PhotoView]
    next: int | None = Field(
        None, description="With a limit: the `after` of the next page, while pages come back full."
    )


class DeliverRequest(DeliverySpec):
    """``POST /v1/jobs/{id}/deliver``: deliver the job's exports now (photos done before
    for this target are not sent again)."""


class RetryRequest(_Strict):
    photos: list[Annotated[int, Field(ge=0)]] | None = None


class AppliedReport(_Strict):
    index: Annotated[int, Field(ge=0)]
    applied: bool
    reason: Annotated[str, Field(max_length=2000)] | None = None


class AppliedRequest(_Strict):
    photos: Annotated[list[AppliedReport], Field(min_length=1, max_length=MAX_PHOTOS)]
