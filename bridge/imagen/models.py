"""Typed shapes of Imagen's requests and responses.

Requests (edit options) are strict: unknown names and contradictory tools are
refused with a message that says what to change, before anything is sent.
Responses are lenient: only what the bridge relies on is required, extra
fields are kept, and either link key name is accepted, because Imagen's
documentation and servers disagree on details (see reference/imagen-api.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.imagen.errors import ImagenValidationError


class PhotographyType(StrEnum):
    NO_TYPE = "NO_TYPE"
    OTHER = "OTHER"
    PORTRAITS = "PORTRAITS"
    WEDDING = "WEDDING"
    REAL_ESTATE = "REAL_ESTATE"
    LANDSCAPE_NATURE = "LANDSCAPE_NATURE"
    EVENTS = "EVENTS"
    FAMILY_NEWBORN = "FAMILY_NEWBORN"
    BOUDOIR = "BOUDOIR"
    SPORTS = "SPORTS"
    SCHOOL = "SCHOOL"

    @classmethod
    def parse(cls, value: str) -> PhotographyType:
        """Case-insensitive; spaces and hyphens count as underscores ("real estate")."""
        key = str(value).strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return cls(key)
        except ValueError:
            valid = ", ".join(member.value for member in cls)
            raise ImagenValidationError(
                f"Unknown photography type {value!r}. Valid types: {valid}."
            ) from None


class CropAspectRatio(StrEnum):
    RATIO_2X3 = "2X3"
    RATIO_4X5 = "4X5"
    RATIO_5X7 = "5X7"


class HdrOutputCompression(StrEnum):
    LOSSY = "LOSSY"
    LOSSLESS = "LOSSLESS"


_CROP_TOOLS = ("crop", "portrait_crop", "headshot_crop")


def _choice(value: object, enum: type[StrEnum], field: str) -> object:
    """Accept an enum value in any case; otherwise say which values exist."""
    if value is None or isinstance(value, enum):
        return value
    text = str(value).strip().upper()
    if text in enum.__members__.values():
        return text
    valid = ", ".join(member.value for member in enum)
    raise ValueError(f"{field} must be one of {valid} (got {value!r})")


def _check_callback_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"callback_url must be an absolute http(s) URL (got {value!r})")
    return value


def _sky_problems(options: EditOptions | I2IEditOptions) -> list[str]:
    if options.sky_replacement_template_id is not None and options.sky_replacement is not True:
        return ["sky_replacement_template_id is only used with sky_replacement; turn it on."]
    return []


class _Request(BaseModel):
    """Options sent to Imagen: frozen, no unknown names, ``None`` means "not sent"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Validate ``data``, turning every problem into one readable ImagenValidationError."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ImagenValidationError(validation_message(exc, cls)) from None

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class EditOptions(_Request):
    """AI tools for the classic (profile) edit. Only ``True`` counts as "on"."""

    crop: bool | None = None
    portrait_crop: bool | None = None
    headshot_crop: bool | None = None
    crop_aspect_ratio: CropAspectRatio | None = None
    straighten: bool | None = None
    perspective_correction: bool | None = None
    hdr_merge: bool | None = None
    hdr_output_compression: HdrOutputCompression | None = None
    smooth_skin: bool | None = None
    subject_mask: bool | None = None
    sky_replacement: bool | None = None
    sky_replacement_template_id: int | None = Field(default=None, ge=1)
    window_pull: bool | None = None
    callback_url: str | None = None
    export: bool | None = None  # documented by Imagen (export runs after the edit); no SDK has it

    @field_validator("crop_aspect_ratio", mode="before")
    @classmethod
    def _aspect(cls, value: object) -> object:
        return _choice(value, CropAspectRatio, "crop_aspect_ratio")

    @field_validator("hdr_output_compression", mode="before")
    @classmethod
    def _compression(cls, value: object) -> object:
        return _choice(value, HdrOutputCompression, "hdr_output_compression")

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return _check_callback_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        crops = [name for name in _CROP_TOOLS if getattr(self, name) is True]
        if len(crops) > 1:
            problems.append(
                "Choose at most one of crop, portrait_crop and headshot_crop "
                f"(got {' and '.join(crops)})."
            )
        if self.straighten is True and self.perspective_correction is True:
            problems.append("Choose either straighten or perspective_correction, not both.")
        if self.crop_aspect_ratio is not None and not crops:
            problems.append(
                "crop_aspect_ratio is only used with crop, portrait_crop or headshot_crop; "
                "turn one of them on."
            )
        problems += _sky_problems(self)
        if self.hdr_output_compression is not None and self.hdr_merge is not True:
            problems.append("hdr_output_compression is only used with hdr_merge; turn it on.")
        if problems:
            raise ValueError(" ".join(problems))
        return self


class I2IEditOptions(_Request):
    """Tools for a Smart Editing (I2I) project: no profile, no photography type."""

    hdr_merge: bool | None = None
    sky_replacement: bool | None = None
    sky_replacement_template_id: int | None = Field(default=None, ge=1)
    perspective_correction: bool | None = None
    callback_url: str | None = None

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return _check_callback_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = _sky_problems(self)
        if problems:
            raise ValueError(" ".join(problems))
        return self


def validation_message(exc: ValidationError, model: type[BaseModel]) -> str:
    """One sentence per problem, naming the option, without pydantic's internals."""
    lines: list[str] = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            valid = ", ".join(model.model_fields)
            lines.append(f"Unknown option {field!r}. Valid options: {valid}.")
        elif error["type"] == "value_error":
            lines.append(str(error["ctx"]["error"]))
        else:
            lines.append(f"{field}: {error['msg']}.")
    return " ".join(lines)


# -- responses -----------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class Profile(_Response):
    profile_key: int
    profile_name: str | None = None
    profile_type: str | None = None
    image_type: str | None = None  # "RAW" or "JPG"


class SkyTemplate(_Response):
    id: int
    is_default: bool = False


_LINK_KEYS = ("download_link", "upload_link", "url", "link")


class FileLink(_Response):
    """A presigned link with the file name it belongs to (the official SDK drops the name)."""

    file_name: str
    url: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _either_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "url" not in data:
            for key in _LINK_KEYS:
                if isinstance(data.get(key), str):
                    return {**data, "url": data[key]}
        return data

    def __repr__(self) -> str:  # the URL carries a signature: keep it out of logs
        return f"FileLink(file_name={self.file_name!r})"


class Status(_Response):
    """An edit/export/I2I status. Compare through the properties: casing varies by server."""

    status: str
    progress: float | None = None
    details: str | None = None

    @field_validator("details", mode="before")
    @classmethod
    def _details_text(cls, value: object) -> object:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False)

    @property
    def normalized(self) -> str:
        """``"in progress"``, ``"completed"``…: trimmed, lower case, single spaces."""
        return " ".join(self.status.replace("_", " ").split()).casefold()

    @property
    def is_completed(self) -> bool:
        return self.normalized == "completed"

    @property
    def is_failed(self) -> bool:
        return self.normalized == "failed"

    @property
    def is_terminal(self) -> bool:
        return self.is_completed or self.is_failed


class ProjectInfo(_Response):
    """A project as listed or fetched; every field optional, unknown ones kept."""

    project_uuid: str | None = None
    project_id: int | None = None
    name: str | None = None
    status: str | None = None
    export_status: str | None = None
    created_at: str | None = None
    number_of_images: int | None = None
    profile: Any = None
    ai_tools: Any = None


class Pagination(_Response):
    total: int | None = None
    size: int | None = None
    page: int | None = None


class ProjectPage(_Response):
    projects: list[ProjectInfo] = Field(default_factory=list)
    pagination: Pagination | None = None


class PartLink(_Response):
    part_number: int = Field(ge=1)
    upload_url: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _either_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "upload_url" not in data:
            for key in ("url", "upload_link"):
                if isinstance(data.get(key), str):
                    return {**data, "upload_url": data[key]}
        return data

    def __repr__(self) -> str:
        return f"PartLink(part_number={self.part_number})"


class MultipartUpload(_Response):
    upload_id: str
    key: str
    parts: list[PartLink]

    def part_urls(self) -> dict[int, str]:
        return {part.part_number: part.upload_url for part in self.parts}
