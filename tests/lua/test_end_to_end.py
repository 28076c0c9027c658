"""The plug-in end to end: fake Lightroom (Lua 5.1) -> real ``imagen-bridge serve`` -> emulator.

The plug-in is installed and paired by ``install-plugin``, the bridge runs in its own process
on loopback (port 0, found through server.json), and every HTTP request is real.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from bridge.commands.install_plugin import install
from tests.lua.bridge_process import Bridge
from tests.lua.lightroom import Dialog, Lightroom, LightroomQuit
from tests.lua.shoot import SENT, Shoot, make_shoot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xfail(
        importlib.util.find_spec("bridge.server") is None, reason="needs the server", strict=False
    ),
]

PROFILE = "CLEAN & CRISP (5700)"
HISTORY = "Imagen: CLEAN & CRISP"
NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
}


@dataclass
class World:
    bridge: Bridge
    plugin_dir: Path
    shoot: Shoot

    def lightroom(self, state: dict[str, Any] | None = None, **kwargs: Any) -> Lightroom:
        return Lightroom(state or self.shoot.state, plugin_dir=self.plugin_dir, **kwargs)


def make_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processing_s: float) -> World:
    config, data = tmp_path / "config", tmp_path / "data"
    monkeypatch.setenv("IMAGEN_BRIDGE_CONFIG_DIR", str(config))
    bridge = Bridge(config, data, processing_s=processing_s)
    bridge.start()
    plugin_dir = install(tmp_path / "Application Support" / "Adobe" / "Lightroom" / "Modules")
    return World(bridge, plugin_dir, make_shoot(tmp_path / "Fotos"))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = make_world(tmp_path, monkeypatch, processing_s=0.3)
    yield w
    w.bridge.stop()


@pytest.fixture
def slow_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Imagen takes a few seconds per edit: long enough to act while a job runs."""
    w = make_world(tmp_path, monkeypatch, processing_s=4.0)
    yield w
    w.bridge.stop()


def pick_choices(dialog: Dialog) -> str:
    """What a photographer does in the edit dialog, control by control."""
    assert dialog.title == "Edit with Imagen"
    profiles = dialog.items("Profile:")
    assert PROFILE in profiles and "CLEAN & CRISP (5702)" not in profiles  # raw selection: RAW only
    assert not dialog.enabled("Smart Editing (JPEGs in, edited JPEGs out; no profile)")
    dialog.choose("Profile:", PROFILE)
    dialog.choose("Photography type:", "Wedding")
    assert not dialog.enabled("Aspect ratio:")
    dialog.choose("Crop:", "Crop")
    dialog.choose("Aspect ratio:", "2:3")
    dialog.choose("Crop:", "Portrait crop")  # one crop tool at a time; the ratio stays
    assert dialog.get("Aspect ratio:") == "2X3"
    dialog.set("Straighten", True)
    dialog.set("Perspective correction", True)
    assert dialog.get("Straighten") is False  # Imagen's exclusion, enforced as you click
    dialog.set("Subject mask", True)
    assert not dialog.enabled("Sky template:")
    dialog.set("Merge into the XMP sidecars too", True)
    dialog.set("Apply the edits in Lightroom when Imagen is done", True)
    return "ok"


def job_id(lr: Lightroom) -> str:
    jobs = lr.state()["prefs"]["jobs"]
    assert len(jobs) == 1
    return next(iter(jobs))


def bridge_photos(world: World, job: str) -> dict[str, dict[str, Any]]:
    """The bridge's photos of a job, by the Lightroom uuid the plug-in sent as id."""
    return {p["id"]: p for p in world.bridge.api("GET", f"/jobs/{job}/photos")["photos"]}


def keywords(sidecar: Path) -> list[str]:
    tree = etree.parse(str(sidecar))
    return [str(li) for li in tree.xpath("//dc:subject//rdf:li/text()", namespaces=NS)]


def crs_value(sidecar: Path, name: str) -> str | None:
    tree = etree.parse(str(sidecar))
    attrs = tree.xpath(f"//rdf:Description/@crs:{name}", namespaces=NS)
    elems = tree.xpath(f"//rdf:Description/crs:{name}/text()", namespaces=NS)
    found = [str(v) for v in [*attrs, *elems]]
    return found[0] if found else None


def assert_catalog_untouched(lr: Lightroom, world: World) -> None:
    for photo in lr.state()["photos"]:
        assert not photo.get("history"), photo["uuid"]
        before = next(p for p in world.shoot.state["photos"] if p["uuid"] == photo["uuid"])
        assert photo.get("develop") == before.get("develop")


def assert_no_scope_left_open(lr: Lightroom) -> None:
    assert lr.scopes and all(scope["done"] for scope in lr.scopes)


def test_edit_with_imagen_end_to_end(world: World) -> None:
    keywords_before = keywords(world.shoot.sidecar("0A1F-RAW-0001"))
    assert keywords_before  # the sample carries the photographer's keywords
    lr = world.lightroom(on_dialog=pick_choices)
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    assert lr.dialogs == ["Edit with Imagen"]
    assert_no_scope_left_open(lr)
    captions = lr.scopes[0]["captions"]
    assert captions and captions[-1] == "Imagen is done"

    job = job_id(lr)
    photos = bridge_photos(world, job)
    assert sorted(photos) == sorted(SENT)  # one file per photo; the virtual copy not sent twice
    assert all(p["state"] == "applied" for p in photos.values()), photos  # the bridge was told
    request = world.bridge.api("GET", f"/jobs/{job}")["request"]
    assert request["profile_key"] == 5700 and request["photography_type"] == "WEDDING"
    assert request["tools"]["portrait_crop"] and request["tools"]["perspective_correction"]
    assert not request["tools"].get("straighten") and request["tools"]["crop_aspect_ratio"] == "2X3"

    for uuid in SENT:
        photo = lr.photo(uuid)
        wanted = photos[uuid]["develop_settings"]
        assert wanted, uuid
        for key, value in wanted.items():  # the values the emulator returned, on this photo
            assert photo["develop"].get(key) == value, (uuid, key)
        assert [h["name"] for h in photo["history"]] == [HISTORY]
        assert "Before Imagen" in photo["snapshots"]
        assert photos[uuid]["path"] == photo["path"]  # paths survived the round trip unchanged
    # The virtual copy got its master's settings; the two IMG_1.CR2 got their own.
    vc, master = lr.photo("0A1F-VC-0001"), lr.photo("0A1F-RAW-0001")
    assert [h["name"] for h in vc["history"]] == [HISTORY]
    assert vc["develop"] == {**master["develop"], "ProcessVersion": vc["develop"]["ProcessVersion"]}
    day1, day2 = photos["0A1F-DAY1-IMG1"], photos["0A1F-DAY2-IMG1"]
    assert day1["develop_settings"] != day2["develop_settings"]
    assert lr.photo("0A1F-DAY1-IMG1")["develop"]["Exposure2012"] == pytest.approx(
        day1["develop_settings"]["Exposure2012"]
    )
    assert lr.photo("0A1F-DAY2-IMG1")["develop"]["Exposure2012"] == pytest.approx(
        day2["develop_settings"]["Exposure2012"]
    )
    # Skipped photos are untouched and named in the one summary.
    for uuid in ("0A1F-JPG-0001", "0A1F-OFFLINE-9"):
        assert not lr.photo(uuid).get("history")
    (summary,) = lr.messages
    text = summary["info"]
    assert "IMG_9.CR2 in " in text and "offline or missing" in text
    assert "Strand.jpg in " in text
    assert "Applied Imagen's edit to 7 photo(s)" in text
    # Sidecars merged on disk: Imagen's crs in, the photographer's keywords kept.
    sidecar = world.shoot.sidecar("0A1F-RAW-0001")
    assert keywords(sidecar) == keywords_before
    exposure = crs_value(sidecar, "Exposure2012")
    assert exposure is not None
    assert float(exposure) == pytest.approx(
        photos["0A1F-RAW-0001"]["develop_settings"]["Exposure2012"]
    )
    assert world.shoot.sidecar("0A1F-RAW-0003").is_file()  # created where there was none
    assert photos["0A1F-CJK-0006"]["sidecar"]["status"] == "created"
    # Every catalog write went through a named gate; the token never reached the log.
    assert set(lr.gates) == {HISTORY}
    assert not any(world.bridge.token in line for line in lr.log)


def progress_hook(when: Callable[[str], bool], act: Callable[[Lightroom, Any], None]) -> Any:
    """Acts once, the first time a caption matches."""
    fired = []

    def hook(lr: Lightroom, scope: Any, what: str) -> None:
        if not fired and what == "caption" and when(str(scope.caption)):
            fired.append(True)
            act(lr, scope)

    return hook


def running(caption: str) -> bool:
    return caption.startswith(("Uploading", "Imagen is editing"))


def test_cancel_mid_job_stops_the_bridge_job_and_changes_nothing(slow_world: World) -> None:
    lr = slow_world.lightroom(
        on_dialog=pick_choices,
        on_progress=progress_hook(running, lambda lr, scope: scope.cancel(scope)),
    )
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    assert_no_scope_left_open(lr)
    job = slow_world.bridge.wait_job(job_id(lr))
    assert job["state"] == "canceled"
    (summary,) = lr.messages
    assert "Canceled" in summary["info"]
    assert_catalog_untouched(lr, slow_world)


def test_bridge_stopped_mid_job_then_apply_finished_edits(slow_world: World) -> None:
    lr = slow_world.lightroom(
        on_dialog=pick_choices,
        on_progress=progress_hook(running, lambda lr, scope: slow_world.bridge.stop()),
    )
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    assert_no_scope_left_open(lr)
    (summary,) = lr.messages
    assert "not running" in summary["info"] and "Apply Finished Imagen Edits" in summary["info"]
    assert_catalog_untouched(lr, slow_world)
    # The photographer starts the bridge again; the job resumes and is applied.
    slow_world.bridge.start()
    lr.menu("Apply Finished Imagen Edits")
    assert lr.task_errors == []
    photos = bridge_photos(slow_world, job_id(lr))
    assert all(p["state"] == "applied" for p in photos.values())
    for uuid in SENT:
        assert len(lr.photo(uuid)["history"]) == 1


def test_wrong_token_says_how_to_pair_and_sends_nothing(world: World) -> None:
    pairing = world.plugin_dir / "pairing.json"
    data = json.loads(pairing.read_text("utf-8"))
    pairing.write_text(json.dumps({**data, "token": "not-the-token-" + "x" * 40}), "utf-8")
    lr = world.lightroom()  # no dialog may appear
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == [] and lr.dialogs == []
    (message,) = lr.messages
    assert "refused this plugin's token" in message["info"]
    assert "imagen-bridge install-plugin" in message["info"]
    assert world.bridge.api("GET", "/jobs")["jobs"] == []
    assert_catalog_untouched(lr, world)


def test_bridge_not_running_is_a_clear_message(world: World) -> None:
    world.bridge.stop()
    lr = world.lightroom()
    lr.menu("Edit with Imagen...")
    (message,) = lr.messages
    assert "not running" in message["info"] and "imagen-bridge serve" in message["info"]
    assert_catalog_untouched(lr, world)


def test_lightroom_restarted_mid_job_applies_every_photo_exactly_once(slow_world: World) -> None:
    def quit_lightroom(lr: Lightroom, scope: Any) -> None:
        raise LightroomQuit

    first = slow_world.lightroom(
        on_dialog=pick_choices, on_progress=progress_hook(running, quit_lightroom)
    )
    first.menu("Edit with Imagen...")
    assert first.messages == []  # gone mid-job: no summary, nothing applied
    assert_catalog_untouched(first, slow_world)
    state = first.state()

    second = slow_world.lightroom(state)  # a fresh Lua state: Lightroom started again
    second.menu("Apply Finished Imagen Edits")
    assert second.task_errors == []
    assert_no_scope_left_open(second)
    photos = bridge_photos(slow_world, job_id(second))
    assert all(p["state"] == "applied" for p in photos.values())
    for uuid in (*SENT, "0A1F-VC-0001"):
        assert len(second.photo(uuid)["history"]) == 1, uuid

    third = slow_world.lightroom(second.state())
    third.menu("Apply Finished Imagen Edits")
    assert third.messages[-1]["info"] == "No Imagen edits are waiting to be applied."
    for uuid in (*SENT, "0A1F-VC-0001"):
        assert len(third.photo(uuid)["history"]) == 1, uuid
