"""crs settings -> the table Lightroom's ``photo:applyDevelopSettings`` takes, as JSON.

The crs key space is the develop-settings key space: drop the prefix, type the values,
turn ``rdf:Seq`` into lists, structs into dicts, point curves into flat number arrays.

Decisions:

- Typing is by key first, value second: keys that name things (``*Name``, ``*UUID``,
  ``*Version``, ``CameraProfile``, ``LookTable``...) stay strings even when they look numeric;
  otherwise "True"/"False" (any case) become booleans and plain decimals ("+0.35", "-12", "5500")
  become numbers. Exponents are never parsed, so hex digests stay text.
- Dropped at the top level: file bookkeeping (``Version``, ``RawFileName``,
  ``AlreadyApplied``, ``HasSettings``), ``*Digest`` and ``*SyncID`` values, and preset
  metadata (``PresetType``, ``UUID``, ``Name``, ``Supports*``, ``Requires*``...). Nested
  structures (``Look``, masks) are passed whole: their ids tie corrections and masks together.
- White balance: raws take ``Temperature``/``Tint`` (Kelvin), other files
  ``IncrementalTemperature``/``IncrementalTint`` (relative to as-shot). Converting one pair into
  the other needs the photo's as-shot white balance, which a packet does not carry, so a pair
  of the wrong kind is dropped and reported in :attr:`DevelopSettings.dropped` rather than
  guessed. ``WhiteBalance = "Custom"`` is set whenever a temperature or tint is passed on.
- ``ToneCurveName2012 = "Custom"`` (``ToneCurveName`` for the legacy curve) when a point curve is
  passed on, or Lightroom keeps showing the named curve.
- ``HasCrop`` keeps the packet's explicit value; without one it is ``True`` when crop edges
  or angle are present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from bridge.xmp.errors import XmpParseError
from bridge.xmp.namespaces import local_name
from bridge.xmp.packet import XmpPacket
from bridge.xmp.values import XmpArray, XmpValue, crs_properties

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_CURVE = re.compile(r"(?:Extended)?ToneCurve(?:PV2012)?(?:Red|Green|Blue)?")
_STRING_KEYS = frozenset(
    {"CameraProfile", "LookTable", "WhiteBalance", "ProcessVersion", "What", "Cluster", "Group"}
)
_STRING_SUFFIXES = ("Name", "UUID", "Version", "Digest", "SyncID", "ID", "Table", "Filename")
_DROP_KEYS = frozenset(
    {
        "Version", "CompatibleVersion", "RawFileName", "AlreadyApplied", "HasSettings",
        "PresetType", "UUID", "Name", "ShortName", "SortName", "Group", "Cluster",
        "Copyright", "ContactInfo", "Description", "CameraModelRestriction",
    }
)  # fmt: skip
_DROP_SUFFIXES = ("Digest", "SyncID")
_DROP_PREFIXES = ("Supports", "Requires")
_CROP_KEYS = ("CropTop", "CropLeft", "CropBottom", "CropRight", "CropAngle")
_KELVIN = ("Temperature", "Tint")
_INCREMENTAL = ("IncrementalTemperature", "IncrementalTint")


@dataclass(frozen=True)
class DevelopSettings:
    """The settings table plus a note for every crs key deliberately not passed on."""

    settings: dict[str, JsonValue]
    dropped: tuple[str, ...]


def develop_settings(packet: XmpPacket, *, is_raw: bool) -> dict[str, Any]:
    """The JSON-able table for ``photo:applyDevelopSettings`` (see :func:`convert`)."""
    return convert(packet, is_raw=is_raw).settings


def convert(packet: XmpPacket, *, is_raw: bool) -> DevelopSettings:
    """Convert the packet's crs settings, reporting what was left out and why."""
    settings: dict[str, JsonValue] = {}
    dropped: list[str] = []
    for key, value in crs_properties(packet):
        if _is_dropped(key):
            dropped.append(f"{key}: bookkeeping, not a develop setting")
            continue
        settings[key] = _convert(key, value)  # a key written twice: the last one wins
    dropped += _white_balance(settings, is_raw=is_raw)
    curves = [key for key in settings if _CURVE.fullmatch(key)]
    if any("PV2012" in key for key in curves):
        settings["ToneCurveName2012"] = "Custom"
    if any("PV2012" not in key for key in curves):
        settings["ToneCurveName"] = "Custom"
    if "HasCrop" not in settings and any(key in settings for key in _CROP_KEYS):
        settings["HasCrop"] = True
    return DevelopSettings(settings=settings, dropped=tuple(dropped))


def _is_dropped(key: str) -> bool:
    return key in _DROP_KEYS or key.endswith(_DROP_SUFFIXES) or key.startswith(_DROP_PREFIXES)


def _white_balance(settings: dict[str, JsonValue], *, is_raw: bool) -> list[str]:
    keep, other = (_KELVIN, _INCREMENTAL) if is_raw else (_INCREMENTAL, _KELVIN)
    kind = "raw" if is_raw else "non-raw"
    notes = []
    for key in other:
        if key in settings:
            del settings[key]
            notes.append(
                f"{key}: not valid for a {kind} photo, and converting it to {'/'.join(keep)} "
                "needs the as-shot white balance"
            )
    if any(key in settings for key in keep):
        settings["WhiteBalance"] = "Custom"
    return notes


def _convert(key: str, value: XmpValue) -> JsonValue:
    if isinstance(value, str):
        return _scalar(key, value)
    if isinstance(value, XmpArray):
        if _CURVE.fullmatch(key):
            return _curve(key, value)
        if value.kind == "Alt" and any(value.langs):
            return {
                lang or "x-default": _convert(key, item)
                for lang, item in zip(value.langs, value.items, strict=True)
            }
        return [_convert(key, item) for item in value.items]
    return {local_name(name): _convert(local_name(name), item) for name, item in value.items()}


def _scalar(key: str, text: str) -> JsonValue:
    if key in _STRING_KEYS or key.endswith(_STRING_SUFFIXES) or key.startswith("Table_"):
        return text
    stripped = text.strip()
    if stripped.lower() in {"true", "false"}:  # ACR writes "True"; mask fields use "true"
        return stripped.lower() == "true"
    if _NUMBER.fullmatch(stripped):
        return _number(stripped)
    return text


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _curve(key: str, value: XmpArray) -> list[JsonValue]:
    """``["0, 0", "255, 255"]`` -> ``[0, 0, 255, 255]``; anything else is refused."""
    flat: list[JsonValue] = []
    for position, item in enumerate(value.items, start=1):
        parts = item.split(",") if isinstance(item, str) else []
        numbers = [part.strip() for part in parts]
        if len(numbers) != 2 or not all(_NUMBER.fullmatch(n) for n in numbers):
            shown = item if isinstance(item, str) else "a structure"
            raise XmpParseError(f"crs:{key} point {position} is {shown!r}, expected 'x, y'")
        flat += [_number(n) for n in numbers]
    return flat
