"""Static service data the emulator serves: profiles, sky templates and accepted file types.

Kept apart from the routes so outputs and validation read the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

ImageType = Literal["RAW", "JPG"]

# The extensions the official SDK sends to a RAW or a JPG profile (imagen_sdk.py).
RAW_EXTENSIONS = frozenset(
    {
        ".dng", ".nef", ".cr2", ".arw", ".nrw", ".crw", ".srf", ".sr2", ".orf", ".raw",
        ".rw2", ".raf", ".ptx", ".pef", ".rwl", ".srw", ".cr3", ".3fr", ".fff",
    }
)  # fmt: skip
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})


def image_type_of(file_name: str) -> ImageType | None:
    """RAW, JPG, or None for a file type Imagen does not edit."""
    suffix = PurePosixPath(file_name).suffix.lower()
    if suffix in RAW_EXTENSIONS:
        return "RAW"
    if suffix in JPEG_EXTENSIONS:
        return "JPG"
    return None


@dataclass(frozen=True)
class Profile:
    """One editing profile; ``look`` biases the generated develop settings so styles differ."""

    key: int
    name: str
    profile_type: Literal["Personal", "Talent"]
    image_type: ImageType
    look: tuple[float, float, float]  # warmth (K offset / 100), contrast, brightness (EV)

    def to_json(self) -> dict[str, object]:
        return {
            "profile_key": self.key,
            "profile_name": self.name,
            "profile_type": self.profile_type,
            "image_type": self.image_type,
        }


PROFILES: tuple[Profile, ...] = (
    Profile(5700, "CLEAN & CRISP", "Talent", "RAW", (0.0, 12.0, 0.10)),
    Profile(5702, "CLEAN & CRISP", "Talent", "JPG", (0.0, 10.0, 0.05)),
    Profile(5714, "WARM & AIRY", "Talent", "RAW", (6.0, -8.0, 0.35)),
    Profile(5731, "MOODY FILM", "Talent", "RAW", (-3.0, 22.0, -0.25)),
    Profile(5745, "TRUE TO LIFE", "Talent", "JPG", (1.0, 4.0, 0.0)),
    Profile(184302, "My Wedding Style", "Personal", "RAW", (3.0, 6.0, 0.15)),
    Profile(184377, "My Wedding Style (JPEG)", "Personal", "JPG", (3.0, 5.0, 0.10)),
)
PROFILES_BY_KEY = {profile.key: profile for profile in PROFILES}

# Sky replacement templates as production lists them: {"templates": [{"id", "is_default"}]}.
SKY_TEMPLATES: dict[int, str] = {1: "Clear Blue", 2: "Soft Clouds", 3: "Golden Hour"}
DEFAULT_SKY_TEMPLATE = 1


def sky_templates_json() -> list[dict[str, object]]:
    return [
        {"id": key, "is_default": key == DEFAULT_SKY_TEMPLATE, "name": name}
        for key, name in SKY_TEMPLATES.items()
    ]


PHOTOGRAPHY_TYPES = frozenset(
    {
        "NO_TYPE", "OTHER", "PORTRAITS", "WEDDING", "REAL_ESTATE", "LANDSCAPE_NATURE",
        "EVENTS", "FAMILY_NEWBORN", "BOUDOIR", "SPORTS", "SCHOOL",
    }
)  # fmt: skip
CROP_ASPECT_RATIOS = frozenset({"2X3", "4X5", "5X7"})
HDR_COMPRESSIONS = frozenset({"LOSSY", "LOSSLESS"})

# AI tools listed by GET /projects/{uuid}/ai-tools (open shape in the contract).
AI_TOOLS: tuple[dict[str, object], ...] = (
    {"enhancement_type": "remove_cameraman", "label": "Remove camera", "enabled_for_batch": True},
    {"enhancement_type": "green_grass", "label": "Green grass", "enabled_for_batch": True},
    {"enhancement_type": "denoise", "label": "Denoise", "enabled_for_batch": False},
)
