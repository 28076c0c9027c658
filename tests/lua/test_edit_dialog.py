"""The edit dialog: Imagen's rules enforced in the dialog itself, used through its own controls."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.lua.lightroom import Dialog, Lightroom, to_lua

PROFILES = [
    {"profile_key": 5700, "profile_name": "CLEAN & CRISP", "image_type": "RAW"},
    {"profile_key": 5702, "profile_name": "CLEAN & CRISP", "image_type": "JPG"},
    {"profile_key": 5714, "profile_name": "WARM & AIRY", "image_type": "RAW"},
    {"profile_key": 5745, "profile_name": "TRUE TO LIFE", "image_type": "JPG"},
    {"profile_key": 42, "profile_name": "Any type", "image_type": None},
]
SMART = "Smart Editing (JPEGs in, edited JPEGs out; no profile)"
PRESENT = """
local info = ...
local EditDialog = require "EditDialog"
local Json = require "Json"
return (import "LrFunctionContext").callWithContext("test", function(context)
  local choices, body, name = EditDialog.present(context, info, "label")
  if not choices then return nil end
  return Json.encode(body), name
end)
"""


def present(
    lr: Lightroom, counts: dict[str, int], *answers: Callable[[Dialog], str]
) -> tuple[dict[str, Any] | None, str | None]:
    """Shows the dialog; each answer handles one presentation of it."""
    queue = list(answers)
    lr.on_dialog = lambda dialog: queue.pop(0)(dialog)
    info = to_lua(lr.lua, {"profiles": PROFILES, "counts": counts, "skippedCount": 1})
    body, name = lr.run_lua(PRESENT, info) or (None, None)
    assert not queue, "the dialog was shown fewer times than expected"
    return (json.loads(body) if body else None), name


def test_raw_selection_offers_raw_profiles_and_enforces_exclusions() -> None:
    lr = Lightroom({"photos": []})

    def answer(d: Dialog) -> str:
        assert d.items("Profile:") == [
            "Any type (42)",
            "CLEAN & CRISP (5700)",
            "WARM & AIRY (5714)",
        ]
        assert not d.enabled(SMART) and not d.enabled("Send:")
        assert "3 raw files to send." in d.texts()
        d.choose("Profile:", "WARM & AIRY (5714)")
        d.choose("Crop:", "Headshot crop")
        d.choose("Aspect ratio:", "4:5")
        d.choose("Crop:", "No crop")
        assert d.get("Aspect ratio:") == "none" and not d.enabled("Aspect ratio:")
        d.choose("Crop:", "Crop")
        d.choose("Aspect ratio:", "5:7")
        d.set("Perspective correction", True)
        d.set("Straighten", True)
        assert d.get("Perspective correction") is False
        assert not d.enabled("Sky template:")
        d.set("Sky replacement", True)
        d.set("Sky template:", "3")
        d.set("Sky replacement", False)
        assert d.get("Sky template:") == ""
        d.set("Sky replacement", True)
        d.set("Sky template:", " 7 ")
        d.set("Export JPEGs too", True)
        d.set("Merge into the XMP sidecars too", False)
        d.choose("Photography type:", "Real estate")
        return "ok"

    body, name = present(lr, {"RAW": 3, "JPEG": 0}, answer)
    assert name == "WARM & AIRY"
    assert body == {
        "profile_key": 5714, "photography_type": "REAL_ESTATE", "smart": False, "export": True,
        "merge": False, "label": "label",
        "tools": {"crop": True, "crop_aspect_ratio": "5X7", "straighten": True,
                  "sky_replacement": True, "sky_template": 7},
    }  # fmt: skip


def test_smart_editing_takes_jpegs_no_profile_no_export_and_three_tools() -> None:
    lr = Lightroom({"photos": []})

    def answer(d: Dialog) -> str:
        assert d.items("Profile:") == [
            "Any type (42)",
            "CLEAN & CRISP (5702)",
            "TRUE TO LIFE (5745)",
        ]
        d.set("Export JPEGs too", True)
        d.set("Subject mask", True)
        d.set("Straighten", True)
        d.choose("Crop:", "Crop")
        d.set(SMART, True)
        for off in ("Profile:", "Photography type:", "Crop:", "Export JPEGs too", "Subject mask",
                    "Straighten", "Smooth skin", "Window pull"):  # fmt: skip
            assert not d.enabled(off), off
        assert d.get("Export JPEGs too") is False and d.get("Subject mask") is False
        assert d.get("Crop:") == "none" and d.get("Straighten") is False
        for on in ("HDR merge (brackets of 3)", "Sky replacement", "Perspective correction"):
            assert d.enabled(on), on
        d.set("Perspective correction", True)
        d.set("HDR merge (brackets of 3)", True)
        return "ok"

    body, name = present(lr, {"RAW": 0, "JPEG": 4}, answer)
    assert name == "Smart Editing"
    assert body is not None and "profile_key" not in body and "photography_type" not in body
    assert body["smart"] is True and body["export"] is False
    assert body["tools"] == {"perspective_correction": True, "hdr_merge": True}


def test_a_mixed_selection_chooses_what_to_send_and_the_profiles_follow() -> None:
    lr = Lightroom({"photos": []})

    def answer(d: Dialog) -> str:
        assert d.enabled("Send:") and d.get("Send:") == "RAW"
        d.choose("Send:", "JPEG photos")
        assert "CLEAN & CRISP (5702)" in d.items("Profile:")
        assert d.get("Profile:") in (42, 5702, 5745)
        assert "1 JPEG to send." in d.texts()
        d.choose("Profile:", "TRUE TO LIFE (5745)")
        return "ok"

    body, _ = present(lr, {"RAW": 2, "JPEG": 1}, answer)
    assert body is not None and body["profile_key"] == 5745


def test_last_choices_are_remembered() -> None:
    lr = Lightroom({"photos": []})

    def first(d: Dialog) -> str:
        d.choose("Profile:", "WARM & AIRY (5714)")
        d.set("Subject mask", True)
        d.set("Apply the edits in Lightroom when Imagen is done", False)
        return "ok"

    def second(d: Dialog) -> str:
        assert d.get("Profile:") == 5714 and d.get("Subject mask") is True
        assert d.get("Apply the edits in Lightroom when Imagen is done") is False
        return "cancel"

    present(lr, {"RAW": 1, "JPEG": 0}, first)
    restarted = Lightroom(lr.state())
    assert present(restarted, {"RAW": 1, "JPEG": 0}, second) == (None, None)


def test_a_bad_sky_template_is_explained_and_the_dialog_comes_back() -> None:
    lr = Lightroom({"photos": []})

    def bad(d: Dialog) -> str:
        d.set("Sky replacement", True)
        d.set("Sky template:", "blue")
        return "ok"

    def fixed(d: Dialog) -> str:
        assert d.get("Sky template:") == "blue"
        d.set("Sky template:", "")
        return "ok"

    body, _ = present(lr, {"RAW": 1, "JPEG": 0}, bad, fixed)
    assert body is not None and body["tools"] == {"sky_replacement": True}
    (message,) = lr.messages
    assert "sky template must be a whole number" in message["info"]
