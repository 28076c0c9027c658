"""Camera Raw develop settings the emulator "decides" for a photo.

Deterministic: every number comes from a hash of (file bytes sha256, profile, photography type,
tools), so the same upload edited the same way yields byte-identical outputs, and a different
tool changes the result. The values stay within the ranges Lightroom uses so downstream code
(merge, develop-settings conversion, Lightroom itself) sees realistic data.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from bridge.emulator.catalog import Profile
from bridge.emulator.options import EditOptions

CRS_VERSION = "15.4"
PROCESS_VERSION = "11.0"
# The emulator assumes a landscape 3:2 sensor frame when placing crops (Crop* are fractions).
FRAME_WIDTH, FRAME_HEIGHT = 3.0, 2.0
_ASPECTS = {"2X3": 3 / 2, "4X5": 5 / 4, "5X7": 7 / 5}  # long side / short side
_HSL_COLOURS = ("Red", "Orange", "Yellow", "Green", "Aqua", "Blue", "Purple", "Magenta")
# MaskSubType values Lightroom writes for AI masks.
MASK_SUBJECT, MASK_SKY, MASK_PEOPLE = "1", "2", "3"


class _Dial:
    """An endless, reproducible stream of numbers in [0, 1) drawn from a seed."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._count = 0

    def unit(self) -> float:
        block = hashlib.sha256(self._seed + self._count.to_bytes(4, "big")).digest()
        self._count += 1
        return int.from_bytes(block[:8], "big") / 2**64

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()


def signed(value: float, decimals: int = 0) -> str:
    """Lightroom's number style: ``+0.35``, ``-12``, ``0``."""
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        return "0" if decimals == 0 else f"{0:.{decimals}f}"
    return text if text.startswith("-") else "+" + text


def plain(value: float, decimals: int = 6) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass(frozen=True)
class Correction:
    """One entry of ``crs:MaskGroupBasedCorrections``: local settings plus its masks."""

    name: str
    settings: dict[str, str]
    masks: list[dict[str, str]]


@dataclass
class CrsSettings:
    simple: dict[str, str] = field(default_factory=dict)  # crs:Name -> value, in write order
    curves: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    corrections: list[Correction] = field(default_factory=list)


@dataclass(frozen=True)
class DevelopInput:
    """Everything an edit result depends on."""

    digest: str  # sha256 hex of the uploaded bytes
    raw_file_name: str  # what crs:RawFileName names
    is_raw: bool
    profile: Profile | None  # None for Smart Editing (no profile)
    photography_type: str | None
    options: EditOptions
    already_applied: bool = False

    def seed(self) -> bytes:
        profile = self.profile.key if self.profile else -1
        parts = (self.digest, str(profile), self.photography_type or "", str(self.is_raw))
        return "|".join(parts).encode() + self.options.fingerprint()


def develop_settings(source: DevelopInput) -> CrsSettings:
    dial = _Dial(source.seed())
    warmth, contrast, brightness = source.profile.look if source.profile else (0.0, 0.0, 0.0)
    portraits = source.photography_type in ("PORTRAITS", "WEDDING", "BOUDOIR", "FAMILY_NEWBORN")
    out = CrsSettings()
    s = out.simple
    s["Version"] = CRS_VERSION
    s["ProcessVersion"] = PROCESS_VERSION
    s["WhiteBalance"] = "Custom"
    if source.is_raw:
        s["Temperature"] = str(int(round(dial.between(4300, 6800) + warmth * 100, -1)))
        s["Tint"] = signed(dial.between(-12, 18))
    else:  # rendered files use relative white balance
        s["Temperature"] = signed(dial.between(-15, 15) + warmth)
        s["Tint"] = signed(dial.between(-10, 10))
    s["Exposure2012"] = signed(dial.between(-0.6, 0.9) + brightness, 2)
    s["Contrast2012"] = signed(dial.between(-15, 25) + contrast)
    s["Highlights2012"] = signed(dial.between(-80, -10))
    s["Shadows2012"] = signed(dial.between(5, 60))
    s["Whites2012"] = signed(dial.between(-20, 30))
    s["Blacks2012"] = signed(dial.between(-35, 5))
    s["Texture"] = signed(dial.between(-20, 5) if portraits else dial.between(0, 25))
    s["Clarity2012"] = signed(dial.between(-10, 5) if portraits else dial.between(0, 30))
    s["Dehaze"] = signed(dial.between(-5, 15))
    s["Vibrance"] = signed(dial.between(0, 30))
    s["Saturation"] = signed(dial.between(-10, 10))
    for kind, low, high in (("Hue", -15, 15), ("Saturation", -30, 20), ("Luminance", -20, 25)):
        for colour in _HSL_COLOURS:
            s[f"{kind}Adjustment{colour}"] = signed(dial.between(low, high))
    s["ParametricShadows"] = "0"
    s["ParametricDarks"] = "0"
    s["ParametricLights"] = "0"
    s["ParametricHighlights"] = "0"
    s["Sharpness"] = str(round(dial.between(25, 60)))
    s["LuminanceSmoothing"] = str(round(dial.between(0, 30)))
    s["ColorNoiseReduction"] = "25"
    s["LensProfileEnable"] = "1"
    s["AutoLateralCA"] = "1"
    s["ToneCurveName2012"] = "Custom"
    s["CameraProfile"] = "Adobe Standard" if source.is_raw else "Embedded"
    _tone_curves(out, dial)
    _geometry(out, source.options, dial)
    _corrections(out, source.options, dial)
    s["HasSettings"] = "True"
    s["AlreadyApplied"] = "True" if source.already_applied else "False"
    s["RawFileName"] = source.raw_file_name
    return out


def _tone_curves(out: CrsSettings, dial: _Dial) -> None:
    shadow = round(dial.between(0, 22))
    quarter = round(64 + dial.between(-8, 10))
    middle = round(128 + dial.between(-6, 12))
    three_quarter = round(192 + dial.between(-4, 14))
    highlight = round(255 - dial.between(0, 10))
    out.curves["ToneCurvePV2012"] = [
        (0, shadow),
        (64, quarter),
        (128, middle),
        (192, three_quarter),
        (255, highlight),
    ]
    for channel in ("Red", "Green", "Blue"):
        out.curves[f"ToneCurvePV2012{channel}"] = [(0, 0), (255, 255)]


def crop_box(ratio: float, scale: float, top_bias: float) -> tuple[float, float, float, float]:
    """(top, left, bottom, right) fractions of a box with pixel aspect ``ratio`` (w/h)."""
    if ratio >= FRAME_WIDTH / FRAME_HEIGHT:
        width = scale * FRAME_WIDTH
        height = width / ratio
    else:
        height = scale * FRAME_HEIGHT
        width = height * ratio
    left = (FRAME_WIDTH - width) / 2
    top = (FRAME_HEIGHT - height) * top_bias
    return (
        top / FRAME_HEIGHT,
        left / FRAME_WIDTH,
        (top + height) / FRAME_HEIGHT,
        (left + width) / FRAME_WIDTH,
    )


def _geometry(out: CrsSettings, options: EditOptions, dial: _Dial) -> None:
    s = out.simple
    angle = 0.0
    scale = 1.0
    if options.straighten:
        angle = dial.between(0.4, 4.5) * (1 if dial.unit() < 0.5 else -1)
        radians = math.radians(abs(angle))
        # largest box of the frame's own shape that fits inside the rotated frame
        scale = FRAME_HEIGHT / (FRAME_HEIGHT * math.cos(radians) + FRAME_WIDTH * math.sin(radians))
    box = None
    if options.crop or options.portrait_crop or options.headshot_crop:
        long_over_short = _ASPECTS[options.aspect_ratio()]
        ratio = long_over_short if options.crop else 1 / long_over_short
        if options.headshot_crop:
            box = crop_box(ratio, scale * dial.between(0.45, 0.6), dial.between(0.1, 0.3))
        else:
            box = crop_box(ratio, scale * dial.between(0.82, 0.96), dial.between(0.35, 0.6))
    elif options.straighten:
        box = crop_box(FRAME_WIDTH / FRAME_HEIGHT, scale, 0.5)
    if box is not None:
        s["CropTop"], s["CropLeft"], s["CropBottom"], s["CropRight"] = (plain(v) for v in box)
        s["CropAngle"] = plain(angle, 2)
        s["CropConstrainToWarp"] = "0"
        s["HasCrop"] = "True"
    if options.perspective_correction:
        s["UprightVersion"] = "151388160"
        s["UprightCenterMode"] = "0"
        s["UprightCenterNormX"] = "0.5"
        s["UprightCenterNormY"] = "0.5"
        s["UprightFocalMode"] = "0"
        s["PerspectiveUpright"] = "1"  # Auto
        s["PerspectiveVertical"] = signed(dial.between(-12, 12))
        s["PerspectiveHorizontal"] = signed(dial.between(-6, 6))
        s["PerspectiveScale"] = "100"
        s["AutoLateralCA"] = "1"


def _mask(name: str, sub_type: str, **extra: str) -> dict[str, str]:
    return {
        "What": "Mask/Image",
        "MaskActive": "true",
        "MaskName": name,
        "MaskBlendMode": "0",
        "MaskInverted": "false",
        "MaskValue": "1",
        "MaskVersion": "1",
        "MaskSubType": sub_type,
        **extra,
    }


def _local(dial: _Dial, **ranges: tuple[float, float]) -> dict[str, str]:
    settings = {"CorrectionAmount": "1", "CorrectionActive": "true"}
    for key, (low, high) in ranges.items():
        settings[key] = plain(dial.between(low, high), 4)
    return settings


def _corrections(out: CrsSettings, options: EditOptions, dial: _Dial) -> None:
    if options.subject_mask:
        settings = _local(dial, LocalExposure2012=(0.05, 0.3), LocalClarity2012=(0.02, 0.12))
        out.corrections.append(Correction("Subject", settings, [_mask("Subject", MASK_SUBJECT)]))
    if options.smooth_skin:
        settings = _local(dial, LocalTexture=(-0.45, -0.2), LocalClarity2012=(-0.3, -0.1))
        skin = _mask("Skin", MASK_PEOPLE, MaskSubCategoryID="2")
        out.corrections.append(Correction("Smooth Skin", settings, [skin]))
    template = options.sky_template()
    if template is not None:
        settings = _local(dial, LocalExposure2012=(-0.5, -0.1), LocalDehaze=(0.05, 0.25))
        sky = _mask(f"Sky (template {template})", MASK_SKY)
        out.corrections.append(Correction("Sky Replacement", settings, [sky]))
    if options.window_pull:
        settings = _local(dial, LocalExposure2012=(-0.9, -0.4), LocalHighlights2012=(-0.8, -0.5))
        # a luminance range mask over the brightest areas, as a window pull is done by hand
        windows = {
            "What": "Mask/RangeMask",
            "MaskActive": "true",
            "MaskName": "Windows",
            "MaskBlendMode": "0",
            "MaskInverted": "false",
            "MaskValue": "1",
            "MaskVersion": "1",
            "RangeMaskType": "2",
            "LumRange": "0.750000 0.850000 1.000000 1.000000",
        }
        out.corrections.append(Correction("Window Pull", settings, [windows]))
