"""From a job request to what Imagen is sent: edit options, the profile, the photo kind it edits.

The CLI and the HTTP API both build a :class:`~bridge.jobs.models.JobSpec`;
these are the one place its tools become Imagen's options and its profile key
becomes the kind of photo it may be given.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.imagen import EditOptions, I2IEditOptions, Profile
from bridge.jobs.errors import JobRequestError
from bridge.jobs.models import JobSpec, Tools
from bridge.jobs.plan import Expectation, ImageKind

SMART_EXPECTATION = Expectation(ImageKind.JPEG, "Smart Editing edits JPEG files only")
HDR_EXPECTATION = Expectation(
    ImageKind.RAW,
    "HDR merge of a profile edit takes RAW brackets only (--smart --hdr-merge takes JPEGs)",
)
_KINDS = {"RAW": ImageKind.RAW, "JPG": ImageKind.JPEG, "JPEG": ImageKind.JPEG}


def edit_options(request: JobSpec) -> tuple[EditOptions, I2IEditOptions | None]:
    """Imagen's options for the request; ImagenValidationError names a contradiction."""
    return tool_options(request.tools, smart=request.smart)


def tool_options(tools: Tools, *, smart: bool) -> tuple[EditOptions, I2IEditOptions | None]:
    on = dict.fromkeys(tools.enabled(), True)
    if smart:
        i2i = I2IEditOptions.parse({**on, "sky_replacement_template_id": tools.sky_template})
        return EditOptions(), i2i
    options = EditOptions.parse(
        {
            **on,
            "crop_aspect_ratio": tools.crop_aspect_ratio,
            "sky_replacement_template_id": tools.sky_template,
        }
    )
    return options, None


def resolve_profile(profiles: Sequence[Profile], key: int, field: str = "profile_key") -> Profile:
    for profile in profiles:
        if profile.profile_key == key:
            return profile
    raise JobRequestError(
        f"No profile with key {key}; GET /v1/profiles (or `imagen-bridge profiles`) lists yours",
        path=field,
    )


def expectation_for(profile: Profile | None) -> Expectation | None:
    """Which kind of photo ``profile`` edits (None: Smart Editing, JPEG only)."""
    if profile is None:
        return SMART_EXPECTATION
    kind = _KINDS.get((profile.image_type or "").upper())
    if kind is None:
        return None
    word = "RAW" if kind is ImageKind.RAW else "JPEG"
    name = f"'{profile.profile_name}' " if profile.profile_name else ""
    return Expectation(kind, f"profile {name}({profile.profile_key}) edits {word} files")
