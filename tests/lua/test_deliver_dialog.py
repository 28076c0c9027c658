"""The delivery dialog on its own: which jobs it offers, what it sends, what it remembers."""

from __future__ import annotations

import json
from typing import Any

from tests.lua.lightroom import Dialog, Lightroom, to_lua

JOBS = [
    {"id": "j-1", "label": "Müller 婚礼 🌅", "state": "done", "counts": {"ready": 3},
     "request": {"export": True}},
    {"id": "j-2", "state": "done", "counts": {"applied": 2}, "request": {"export": False}},
    {"id": "j-3", "state": "running", "counts": {}, "request": {"smart": True}},
    {"id": "j-4", "state": "done", "counts": {}, "request": "not a table"},
]  # fmt: skip
PRESENT = """
local jobs = ...
local DeliverDialog = require "DeliverDialog"
local Json = require "Json"
return (import "LrFunctionContext").callWithContext("test", function(context)
  local job, spec = DeliverDialog.present(context, DeliverDialog.exporting(jobs))
  if not job then return nil end
  spec.tags = Json.array(spec.tags)
  return job.id, Json.encode(spec)
end)
"""


def present(lr: Lightroom, answer: Any) -> tuple[str | None, dict[str, Any] | None]:
    lr.on_dialog = answer
    job, spec = lr.run_lua(PRESENT, to_lua(lr.lua, JOBS)) or (None, None)
    return job, (json.loads(spec) if spec else None)


def test_only_jobs_that_exported_are_offered_and_imagekit_gets_folder_and_tags() -> None:
    lr = Lightroom({"photos": [], "prefs": {}})

    def answer(d: Dialog) -> str:
        assert d.items("Job:") == [
            "Müller 婚礼 🌅 - j-1 (done, 3 photo(s) edited)",
            "j-3 (running, 0 photo(s) edited)",
        ]
        assert d.get("Deliver to:") == "imgwire" and not d.enabled("Tags:")
        d.choose("Job:", "j-3 (running, 0 photo(s) edited)")
        d.choose("Deliver to:", "ImageKit")
        d.set("Folder:", "  /Kunden/Jörg  ")
        d.set("Tags:", " Hochzeit, ,婚礼,🌅 , ")
        return "ok"

    job, spec = present(lr, answer)
    assert job == "j-3"
    assert spec == {"to": "imagekit", "folder": "/Kunden/Jörg", "tags": ["Hochzeit", "婚礼", "🌅"]}
    # Remembered for next time, as typed.
    assert lr.state()["prefs"]["lastDelivery"] == {
        "to": "imagekit", "folder": "  /Kunden/Jörg  ", "tags": " Hochzeit, ,婚礼,🌅 , "
    }  # fmt: skip

    def imgwire(d: Dialog) -> str:
        assert d.get("Deliver to:") == "imagekit" and d.get("Folder:") == "  /Kunden/Jörg  "
        d.choose("Deliver to:", "Imgwire")
        return "ok"

    job, spec = present(lr, imgwire)
    assert job == "j-1" and spec == {"to": "imgwire", "tags": []}  # no folder, no tags


def test_canceled_dialog_sends_and_remembers_nothing() -> None:
    lr = Lightroom({"photos": [], "prefs": {}})
    assert present(lr, lambda d: "cancel") == (None, None)
    assert "lastDelivery" not in lr.state()["prefs"]


def test_damaged_remembered_choices_fall_back_to_defaults() -> None:
    lr = Lightroom({"photos": [], "prefs": {"lastDelivery": {"to": 7, "folder": {}, "tags": True}}})
    seen: list[tuple[Any, Any, Any]] = []

    def answer(d: Dialog) -> str:
        seen.append((d.get("Deliver to:"), d.get("Folder:"), d.get("Tags:")))
        return "ok"

    job, spec = present(lr, answer)
    assert seen == [("imgwire", "", "")]
    assert job == "j-1" and spec == {"to": "imgwire", "tags": []}
