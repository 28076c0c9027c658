"""The edit requests the emulator accepts, parsed and validated with the service's own messages.

Classic ``/edit`` takes a profile, a photography type and EditOptions; Smart Editing takes
only I2I options. Every field is type-checked strictly: a string ``"true"`` is not a boolean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from bridge.emulator.catalog import (
    CROP_ASPECT_RATIOS,
    HDR_COMPRESSIONS,
    PHOTOGRAPHY_TYPES,
    PROFILES_BY_KEY,
    SKY_TEMPLATES,
    Profile,
)
from bridge.emulator.validation import ApiError, optional_bool, optional_int, optional_str

_CLASSIC_TOOLS = (
    "crop",
    "straighten",
    "hdr_merge",
    "portrait_crop",
    "smooth_skin",
    "subject_mask",
    "headshot_crop",
    "perspective_correction",
    "sky_replacement",
    "window_pull",
)
_I2I_TOOLS = ("hdr_merge", "sky_replacement", "perspective_correction")


@dataclass(frozen=True)
class EditOptions:
    """What the AI tools change; only ``True`` flags count (``False`` equals absent)."""

    crop: bool = False
    straighten: bool = False
    hdr_merge: bool = False
    portrait_crop: bool = False
    smooth_skin: bool = False
    subject_mask: bool = False
    headshot_crop: bool = False
    perspective_correction: bool = False
    sky_replacement: bool = False
    sky_replacement_template_id: int | None = None
    window_pull: bool = False
    crop_aspect_ratio: str | None = None
    hdr_output_compression: str | None = None

    def fingerprint(self) -> bytes:
        """Canonical bytes of the options, part of what makes an output deterministic."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    def aspect_ratio(self) -> str:
        """The requested ratio, or the service default for the chosen crop tool."""
        if self.crop_aspect_ratio:
            return self.crop_aspect_ratio
        return "2X3" if self.crop else "4X5"

    def sky_template(self) -> int | None:
        if not self.sky_replacement:
            return None
        return self.sky_replacement_template_id or 1


@dataclass(frozen=True)
class EditRequest:
    profile: Profile
    photography_type: str | None
    options: EditOptions
    callback_url: str | None
    export: bool


def _reject_unknown(body: Mapping[str, object], allowed: set[str], what: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"Unknown field for {what}: {', '.join(unknown)}.")


def _choice(body: Mapping[str, object], name: str, allowed: frozenset[str]) -> str | None:
    value = optional_str(body, name)
    if value is not None and value not in allowed:
        raise ApiError(
            400, f"Invalid {name} {value!r}; expected one of {', '.join(sorted(allowed))}."
        )
    return value


def _callback_url(body: Mapping[str, object]) -> str | None:
    url = optional_str(body, "callback_url")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(400, "callback_url must be an absolute http(s) URL.")
    return url


def _sky_template_id(body: Mapping[str, object]) -> int | None:
    template_id = optional_int(body, "sky_replacement_template_id")
    if template_id is not None and template_id not in SKY_TEMPLATES:
        known = ", ".join(str(key) for key in SKY_TEMPLATES)
        raise ApiError(400, f"Unknown sky_replacement_template_id {template_id}; known: {known}.")
    return template_id


def parse_edit_request(body: Mapping[str, object]) -> EditRequest:
    """Validate the classic ``/edit`` body (profile_key, photography_type, EditOptions)."""
    allowed = {
        "profile_key",
        "photography_type",
        "sky_replacement_template_id",
        "crop_aspect_ratio",
        "callback_url",
        "hdr_output_compression",
        "export",
        *_CLASSIC_TOOLS,
    }
    _reject_unknown(body, allowed, "edit")
    profile_key = optional_int(body, "profile_key")
    if profile_key is None:
        raise ApiError(400, "profile_key is required.")
    profile = PROFILES_BY_KEY.get(profile_key)
    if profile is None:
        raise ApiError(400, f"Profile {profile_key} not found.")
    photography_type = _choice(body, "photography_type", PHOTOGRAPHY_TYPES)
    flags = {name: optional_bool(body, name) is True for name in _CLASSIC_TOOLS}
    if sum(flags[name] for name in ("crop", "headshot_crop", "portrait_crop")) > 1:
        raise ApiError(400, "Only one of crop, headshot_crop, or portrait_crop can be set to True.")
    if flags["straighten"] and flags["perspective_correction"]:
        raise ApiError(400, "Only one of straighten or perspective_correction can be set to True.")
    ratio = _choice(body, "crop_aspect_ratio", CROP_ASPECT_RATIOS)
    compression = _choice(body, "hdr_output_compression", HDR_COMPRESSIONS)
    if flags["hdr_merge"] and profile.image_type != "RAW":
        raise ApiError(400, "hdr_merge needs RAW files and a RAW profile.")
    options = EditOptions(
        **flags,
        sky_replacement_template_id=_sky_template_id(body),
        crop_aspect_ratio=ratio,
        hdr_output_compression=compression,
    )
    return EditRequest(
        profile=profile,
        photography_type=photography_type,
        options=options,
        callback_url=_callback_url(body),
        export=optional_bool(body, "export") is True,
    )


@dataclass(frozen=True)
class I2IRequest:
    options: EditOptions
    callback_url: str | None


def parse_i2i_edit_request(body: Mapping[str, object]) -> I2IRequest:
    """Validate the Smart Editing ``/edit`` body: I2I options only, all optional."""
    _reject_unknown(
        body, {"sky_replacement_template_id", "callback_url", *_I2I_TOOLS}, "Smart Editing"
    )
    flags = {name: optional_bool(body, name) is True for name in _I2I_TOOLS}
    options = EditOptions(
        hdr_merge=flags["hdr_merge"],
        sky_replacement=flags["sky_replacement"],
        perspective_correction=flags["perspective_correction"],
        sky_replacement_template_id=_sky_template_id(body),
    )
    return I2IRequest(options=options, callback_url=_callback_url(body))
