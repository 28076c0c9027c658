"""Deliver Exported Photos...: the plug-in -> real ``imagen-bridge serve`` -> the bridge's
embedded Imgwire and ImageKit emulators (no delivery key configured), every request real."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.delivery.targets import EMULATOR_IMAGEKIT_KEY, EMULATOR_IMGWIRE_KEY
from tests.lua.lightroom import Dialog, Lightroom
from tests.lua.test_end_to_end import (
    World,
    assert_no_scope_left_open,
    bridge_photos,
    job_id,
    make_world,
    raw_photos,
    simple_choices,
)

pytestmark = pytest.mark.slow

TITLE = "Deliver Exported Photos"
MENU = "Deliver Exported Photos..."


def edited_with_export(world: World, names: list[str], folder: str = "Delivery") -> Lightroom:
    """A Lightroom whose photos were edited with "Export JPEGs too": the job is done."""
    lr = world.lightroom(
        raw_photos(world.shoot.root / folder, names), on_dialog=simple_choices("Export JPEGs too")
    )
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    return lr


def deliver_to(
    target: str, job: str, *, folder: str | None = None, tags: str | None = None,
    seen: list[Dialog] | None = None,
) -> Callable[[Dialog], str]:  # fmt: skip
    def answer(dialog: Dialog) -> str:
        assert dialog.title == TITLE
        if seen is not None:
            seen.append(dialog)
        dialog.choose("Job:", next(i for i in dialog.items("Job:") if job in i))
        dialog.choose("Deliver to:", target)
        if folder is not None:
            dialog.set("Folder:", folder)
        if tags is not None:
            dialog.set("Tags:", tags)
        return "ok"

    return answer


def records(world: World, service: str) -> dict[str, Any]:
    """The embedded emulator's own record of what it received. It is the bridge's private
    part: its address is read from the requests the bridge logged to it."""
    ports = re.findall(
        rf"http://127\.0\.0\.1:(\d+)/{service}/", world.bridge.log.read_text("utf-8")
    )
    assert ports, f"the bridge sent nothing to its {service} emulator"
    auth = (
        f"Bearer {EMULATOR_IMGWIRE_KEY}"
        if service == "imgwire"
        else "Basic " + base64.b64encode(f"{EMULATOR_IMAGEKIT_KEY}:".encode()).decode()
    )
    response = httpx.get(
        f"http://127.0.0.1:{ports[-1]}/{service}/_emulator/records",
        headers={"Authorization": auth},
        timeout=30,
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def deliveries(world: World, job: str) -> dict[str, list[dict[str, Any]]]:
    return {uuid: p["deliveries"] for uuid, p in bridge_photos(world, job).items()}


def test_deliver_exported_photos_to_imagekit_once_then_nothing_again(world: World) -> None:
    lr = edited_with_export(world, ["DSC_0001.NEF", "DSC_0002.NEF", "Jörg 🌅.NEF"])
    job = job_id(lr)
    lr.on_dialog = deliver_to(
        "ImageKit", job, folder="/Hochzeit Müller/2026", tags="wedding, Müller ,"
    )
    lr.menu(MENU)
    assert lr.task_errors == []
    assert_no_scope_left_open(lr)
    assert lr.scopes[-1]["captions"][-1] == "Delivering exported photos to ImageKit"
    summary = lr.messages[-1]
    assert summary["message"] == TITLE and summary["style"] == "info", summary
    assert "Delivered 3 photo(s) to ImageKit" in summary["info"]

    first = deliveries(world, job)
    assert len(first) == 3
    for uuid, made in first.items():
        (delivery,) = made  # once, to the one service chosen
        assert delivery["target"] == "imagekit" and delivery["ok"], (uuid, delivery)
        assert delivery["url"] and delivery["remote_id"]
    held = records(world, "imagekit")
    assert len(held["files"]) == 3 and len(held["uploads"]) == 3, held
    names = {made[0]["file_name"] for made in first.values()}
    assert {f["filePath"].rsplit("/", 1)[-1] for f in held["files"]} == names
    for file in held["files"]:
        # ImageKit's folder rules: the space became "_", and the summary says so.
        assert file["filePath"].startswith("/Hochzeit_Müller/2026/"), file
        assert file["tags"] == ["wedding", "Müller"]
    assert "Changed to fit ImageKit's rules:" in summary["info"]
    assert "  3 photos: folder '/Hochzeit Müller/2026': " in summary["info"]
    assert (
        "Jörg 🌅.jpg (as Jörg__.jpg): file name 'Jörg 🌅.jpg' becomes 'Jörg__.jpg'"
        in summary["info"]
    )

    # The dialog remembers the choices; a second delivery sends nothing again.
    seen: list[Dialog] = []
    lr.on_dialog = deliver_to("ImageKit", job, seen=seen)
    lr.menu(MENU)
    assert lr.task_errors == []
    (dialog,) = seen
    assert dialog.get("Deliver to:") == "imagekit"
    assert dialog.get("Folder:") == "/Hochzeit Müller/2026"
    assert dialog.get("Tags:") == "wedding, Müller ,"
    again = lr.messages[-1]["info"]
    assert "3 photo(s) were delivered to ImageKit before and were not sent again" in again
    assert "Delivered" not in again
    assert deliveries(world, job) == first
    held_again = records(world, "imagekit")
    assert held_again["uploads"] == held["uploads"] and len(held_again["files"]) == 3


def test_deliver_to_imgwire_shows_the_folder_and_tags_only_for_imagekit(world: World) -> None:
    lr = edited_with_export(world, ["A.NEF", "B.NEF"])
    job = job_id(lr)

    def answer(dialog: Dialog) -> str:
        dialog.choose("Deliver to:", "Imgwire")
        assert not dialog.enabled("Folder:") and not dialog.enabled("Tags:")
        dialog.choose("Deliver to:", "ImageKit")
        assert dialog.enabled("Folder:") and dialog.enabled("Tags:")
        return deliver_to("Imgwire", job)(dialog)

    lr.on_dialog = answer
    lr.menu(MENU)
    assert lr.task_errors == []
    assert "Delivered 2 photo(s) to Imgwire" in lr.messages[-1]["info"]
    held = records(world, "imgwire")
    assert len(held["images"]) == 2 and len(held["uploads"]) == 2
    assert all(image["status"] == "READY" for image in held["images"])
    assert {image["custom_metadata"]["job"] for image in held["images"]} == {job}
    for made in deliveries(world, job).values():
        assert [(d["target"], d["ok"], d["status"]) for d in made] == [("imgwire", True, "READY")]


def test_a_job_without_exports_is_a_clear_message(world: World) -> None:
    lr = world.lightroom(
        raw_photos(world.shoot.root / "NoExport", ["A.NEF"]), on_dialog=simple_choices()
    )
    lr.menu("Edit with Imagen...")
    lr.on_dialog = None  # no dialog may appear
    lr.menu(MENU)
    assert lr.task_errors == [] and lr.dialogs == ["Edit with Imagen"]
    message = lr.messages[-1]
    assert message["message"] == TITLE
    assert "None of the bridge's jobs exported JPEGs" in message["info"]
    assert '"Export JPEGs too"' in message["info"]
    assert all(not p["deliveries"] for p in bridge_photos(world, job_id(lr)).values())


def test_a_job_still_running_is_refused_with_what_to_do(slow_world: World) -> None:
    state = raw_photos(slow_world.shoot.root / "Running", ["A.NEF"])
    body = {"photos": [{"path": state["photos"][0]["path"], "id": "RAW-0"}], "profile_key": 5700,
            "export": True}  # fmt: skip
    running = slow_world.bridge.api("POST", "/jobs", json=body)
    lr = slow_world.lightroom(state, on_dialog=deliver_to("Imgwire", running["id"]))
    lr.menu(MENU)
    assert lr.task_errors == []
    message = lr.messages[-1]
    assert message["style"] == "critical"
    assert (
        "is still running at the bridge" in message["info"] and "Imagen Jobs..." in message["info"]
    )
    done = slow_world.bridge.wait_job(running["id"])
    assert done["state"] == "done"
    assert all(not p["deliveries"] for p in bridge_photos(slow_world, running["id"]).values())


def test_wrong_token_and_bridge_down_say_what_to_do(world: World) -> None:
    pairing = world.plugin_dir / "pairing.json"
    good = pairing.read_text("utf-8")
    pairing.write_text(good.replace(world.bridge.token, "not-the-token-" + "x" * 40), "utf-8")
    lr = world.lightroom()
    lr.menu(MENU)
    assert lr.dialogs == [] and "refused this plugin's token" in lr.messages[-1]["info"]
    pairing.write_text(good, "utf-8")
    world.bridge.stop()
    lr.menu(MENU)
    assert lr.dialogs == [] and "not running" in lr.messages[-1]["info"]
    assert lr.task_errors == []


def test_cancel_stops_waiting_and_the_bridge_delivers_on(world: World) -> None:
    lr = edited_with_export(world, ["A.NEF", "B.NEF"])
    job = job_id(lr)

    def stop_waiting(lr: Lightroom, scope: Any, what: str) -> None:
        if what == "caption" and str(scope.caption).startswith("Delivering"):
            scope.cancel(scope)

    lr.on_dialog = deliver_to("Imgwire", job)
    lr.on_progress = stop_waiting
    lr.menu(MENU)
    assert lr.task_errors == []
    assert_no_scope_left_open(lr)
    summary = lr.messages[-1]["info"]
    assert "You stopped waiting" in summary and "nothing delivered is sent twice" in summary
    assert world.bridge.wait_job(job)["state"] == "done"  # the job was not canceled
    for made in deliveries(world, job).values():
        assert [(d["target"], d["ok"]) for d in made] == [("imgwire", True)]
    # Choosing the item again shows the outcome, sending nothing twice.
    lr.on_progress = None
    lr.menu(MENU)
    assert "2 photo(s) were delivered to Imgwire before" in lr.messages[-1]["info"]
    assert len(records(world, "imgwire")["uploads"]) == 2


@pytest.fixture
def quarantine_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The embedded Imgwire emulator quarantines B.jpg."""
    w = make_world(tmp_path, monkeypatch, 0.3, {"IMAGEN_EMULATOR_FAULT_FAIL_FILES": "B.jpg"})
    yield w
    w.bridge.stop()


def test_a_photo_the_service_refuses_is_named_with_its_words(quarantine_world: World) -> None:
    world = quarantine_world
    lr = edited_with_export(world, ["A.NEF", "B.NEF"])
    job = job_id(lr)
    lr.on_dialog = deliver_to("Imgwire", job)
    lr.menu(MENU)
    assert lr.task_errors == []
    photos = bridge_photos(world, job)
    (refused,) = photos["RAW-1"]["deliveries"]
    assert not refused["ok"] and refused["status"] == "QUARANTINE" and refused["error"]
    summary = lr.messages[-1]
    assert summary["style"] == "warning"
    assert "Delivered 1 photo(s) to Imgwire" in summary["info"]
    assert "Not delivered (in Imgwire's words):" in summary["info"]
    assert f"  B.jpg: {refused['error']}" in summary["info"]


def test_tags_imagekit_refuses_stop_the_delivery_before_any_upload(world: World) -> None:
    lr = edited_with_export(world, ["A.NEF"])
    job = job_id(lr)
    lr.on_dialog = deliver_to("ImageKit", job, tags="wedding, 100% Müller")
    lr.menu(MENU)
    assert lr.task_errors == []
    summary = lr.messages[-1]
    assert summary["style"] == "warning"
    assert "The delivery to ImageKit stopped: " in summary["info"]
    assert "ImageKit does not allow '%' in tags" in summary["info"]
    assert "Nothing was delivered to ImageKit." in summary["info"]
    assert "A.jpg: the delivery stopped before it" in summary["info"]
    assert world.bridge.api("GET", f"/jobs/{job}")["state"] == "failed"
    assert all(not p["deliveries"] for p in bridge_photos(world, job).values())
    # Tags fixed, the same job delivers.
    lr.on_dialog = deliver_to("ImageKit", job, tags="wedding, Müller")
    lr.menu(MENU)
    assert "Delivered 1 photo(s) to ImageKit" in lr.messages[-1]["info"]
    assert world.bridge.api("GET", f"/jobs/{job}")["state"] == "done"


def test_bridge_stopped_mid_delivery_then_delivered_again(world: World) -> None:
    lr = edited_with_export(world, ["A.NEF", "B.NEF"])
    job = job_id(lr)

    def stop_bridge(lr: Lightroom, scope: Any, what: str) -> None:
        if what == "caption" and str(scope.caption).startswith("Delivering"):
            lr.on_progress = None
            world.bridge.stop()

    lr.on_dialog = deliver_to("Imgwire", job)
    lr.on_progress = stop_bridge
    lr.menu(MENU)
    assert lr.task_errors == []
    assert_no_scope_left_open(lr)
    summary = lr.messages[-1]["info"]
    assert "not running" in summary and "Once the bridge answers again" in summary
    world.bridge.start()
    world.bridge.wait_job(job)
    lr.menu(MENU)
    assert lr.task_errors == []
    summary = lr.messages[-1]["info"]
    assert lr.messages[-1]["style"] == "info", summary
    for made in deliveries(world, job).values():
        assert [(d["target"], d["ok"]) for d in made] == [("imgwire", True)]
