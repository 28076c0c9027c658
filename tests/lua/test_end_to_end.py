"""The plug-in end to end: fake Lightroom (Lua 5.1) -> real ``imagen-bridge serve`` -> emulator.

The plug-in is installed and paired by ``install-plugin``, the bridge runs in its own process
on loopback (port 0, found through server.json), and every HTTP request is real.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from bridge.commands.install_plugin import install
from tests.jobs.helpers import jpeg_bytes, raw_bytes
from tests.lua.bridge_process import Bridge
from tests.lua.lightroom import Dialog, Lightroom, LightroomQuit
from tests.lua.shoot import SENT, Shoot, make_shoot

pytestmark = pytest.mark.slow

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


def make_world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processing_s: float,
    env: dict[str, str] | None = None,
) -> World:
    config, data = tmp_path / "config", tmp_path / "data"
    monkeypatch.setenv("IMAGEN_BRIDGE_CONFIG_DIR", str(config))
    bridge = Bridge(config, data, processing_s=processing_s, env=env or {})
    bridge.start()
    plugin_dir = install(
        tmp_path / "Application Support" / "Adobe" / "Lightroom" / "Modules"
    ).folder
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
    assert dialog.get("Send:") == "BOTH"  # raws and a JPEG selected
    dialog.choose("Send:", "Raw and DNG photos")
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
        # The subject mask is an AI mask: Lightroom recomputes it for the photo.
        assert wanted["MaskGroupBasedCorrections"] and photo["aiUpdates"] == 1, uuid
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
    assert "Applied Imagen's edit to 8 photo(s)" in text  # 7 files, one with a virtual copy
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
    # The photographer starts the bridge again; the job resumes, and Apply Finished brings in
    # every photo it delivered and names every one it could not (the embedded emulator forgets
    # its projects when the bridge stops, so photos caught mid-upload may fail at Imagen).
    slow_world.bridge.start()
    lr.menu("Apply Finished Imagen Edits")
    assert lr.task_errors == []
    photos = bridge_photos(slow_world, job_id(lr))
    summary = lr.messages[-1]["info"]
    for uuid in SENT:
        photo = photos[uuid]
        assert photo["state"] in ("applied", "failed"), photo
        if photo["state"] == "applied":
            assert len(lr.photo(uuid)["history"]) == 1
        else:
            assert not lr.photo(uuid).get("history")
            assert f"{Path(photo['path']).name} in " in summary and photo["reason"] in summary


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


def simple_choices(*switches: str) -> Callable[[Dialog], str]:
    def answer(dialog: Dialog) -> str:
        dialog.choose("Profile:", PROFILE)
        for title in switches:
            dialog.set(title, True)
        return "ok"

    return answer


def raw_photos(folder: Path, names: list[str]) -> dict[str, Any]:
    """A catalog of raws in one folder, uuids RAW-<i>; all selected."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for i, name in enumerate(names):
        path = folder / name
        path.write_bytes(raw_bytes(f"{folder}/{name}"))
        photos.append({"uuid": f"RAW-{i}", "path": str(path), "fileFormat": "RAW", "develop": {}})
    return {"photos": photos, "selection": [p["uuid"] for p in photos], "prefs": {}}


def test_hdr_merge_adds_the_merged_dng_stacked_with_its_bracket(world: World) -> None:
    state = raw_photos(world.shoot.root / "Brackets", ["BRK_01.CR2", "BRK_02.CR2", "BRK_03.CR2"])
    lr = world.lightroom(state, on_dialog=simple_choices("HDR merge (brackets of 3)"))
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    photos = bridge_photos(world, job_id(lr))
    outputs = {p["hdr_output"] for p in photos.values()}
    assert len(outputs) == 1 and None not in outputs
    (hdr_path,) = outputs
    added = [p for p in lr.state()["photos"] if p.get("added")]
    assert len(added) == 1
    dng = added[0]
    assert dng["path"] == hdr_path and dng["fileFormat"] == "DNG"
    assert dng["stackWith"] == "RAW-0" and dng["position"] == "above"
    settings = photos["RAW-0"]["develop_settings"]
    if settings:  # the bridge's settings for the merge, applied to it
        assert [h["name"] for h in dng["history"]] == [HISTORY]
        assert all(dng["develop"][key] == value for key, value in settings.items())
    else:  # none given: the DNG's embedded XMP, which Lightroom reads on import, is the edit
        assert not dng.get("history")
    assert "Added 1 HDR merge(s) to the catalog" in lr.messages[-1]["info"]
    assert all(p["state"] == "applied" for p in photos.values())
    for uuid in ("RAW-0", "RAW-1", "RAW-2"):
        assert not lr.photo(uuid).get("history")  # the frames stay as shot
    # Applying again later does not add the merge twice.
    again = world.lightroom(lr.state())
    again.menu("Apply Finished Imagen Edits")
    assert len([p for p in again.state()["photos"] if p.get("added")]) == 1


def test_a_busy_catalog_is_reported_and_the_photos_are_applied_later(world: World) -> None:
    state = raw_photos(world.shoot.root / "Busy", ["A.NEF", "B.NEF"])
    lr = world.lightroom(state, on_dialog=simple_choices())
    lr.h.writeHeldUntil = 10**9  # another plug-in holds the catalog
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    (summary,) = lr.messages
    assert "catalog stayed busy" in summary["info"]
    assert_catalog_untouched(
        lr, World(world.bridge, world.plugin_dir, Shoot(world.shoot.root, state))
    )
    photos = bridge_photos(world, job_id(lr))
    assert all(
        p["state"] == "ready" and "busy" in (p["apply_error"] or "") for p in photos.values()
    )
    lr.h.writeHeldUntil = -1
    lr.menu("Apply Finished Imagen Edits")
    assert all(p["state"] == "applied" for p in bridge_photos(world, job_id(lr)).values())
    assert all(len(lr.photo(u)["history"]) == 1 for u in ("RAW-0", "RAW-1"))


def test_settings_that_did_not_take_are_named(world: World) -> None:
    state = raw_photos(world.shoot.root / "Ignored", ["A.NEF"])
    state["ignoredKeys"] = {"Exposure2012": True}
    lr = world.lightroom(state, on_dialog=simple_choices())
    lr.menu("Edit with Imagen...")
    (summary,) = lr.messages
    assert "some settings did not take" in summary["info"]
    assert "Lightroom did not take Exposure2012" in summary["info"]


def test_quit_after_applying_but_before_telling_the_bridge_never_applies_twice(
    world: World,
) -> None:
    def quit_before_report(method: str, url: str) -> None:
        if method == "POST" and url.endswith("/applied"):
            raise LightroomQuit

    state = raw_photos(world.shoot.root / "Quit", ["A.NEF", "B.NEF"])
    first = world.lightroom(state, on_dialog=simple_choices(), on_request=quit_before_report)
    first.menu("Edit with Imagen...")
    assert all(len(first.photo(u)["history"]) == 1 for u in ("RAW-0", "RAW-1"))
    job = job_id(first)
    assert all(p["state"] == "ready" for p in bridge_photos(world, job).values())
    second = world.lightroom(first.state())
    second.menu("Apply Finished Imagen Edits")
    assert all(p["state"] == "applied" for p in bridge_photos(world, job).values())
    assert all(len(second.photo(u)["history"]) == 1 for u in ("RAW-0", "RAW-1"))


def test_windows_paths_survive_the_round_trip_unchanged(world: World) -> None:
    state = raw_photos(world.shoot.root / "Local", ["A.NEF"])
    windows_path = "C:\\Users\\Jörg\\Bilder\\Hochzeit 2026\\IMG_0001 🌅.CR2"
    state["photos"].append(
        {"uuid": "WIN-1", "path": windows_path, "fileFormat": "RAW", "develop": {}}
    )
    state["selection"].append("WIN-1")
    lr = world.lightroom(state, on_dialog=simple_choices(), windows=True)
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    photos = bridge_photos(world, job_id(lr))
    assert photos["WIN-1"]["path"] == windows_path and photos["WIN-1"]["state"] == "failed"
    (summary,) = lr.messages
    assert "IMG_0001 🌅.CR2 in C:\\Users\\Jörg\\Bilder\\Hochzeit 2026" in summary["info"]
    assert "Imagen could not edit" in summary["info"]
    assert len(lr.photo("RAW-0")["history"]) == 1 and not lr.photo("WIN-1").get("history")


PLUGIN_MANAGER = """
local provider = require "PluginInfoProvider"
local f = (import "LrView").osFactory()
return (import "LrFunctionContext").callWithContext("plug-in manager", function(context)
  local props = (import "LrBinding").makePropertyTable(context)
  provider.startDialog(props)
  local sections = provider.sectionsForTopOfDialog(f, props)
  return f:column(sections[1]), props
end)
"""


def test_plugin_manager_shows_the_bridge_and_starts_it(world: World) -> None:
    lr = world.lightroom({"photos": [], "standardPaths": {"home": "/nohome", "documents": "/docs"}})
    view, props = lr.run_lua(PLUGIN_MANAGER)
    lr.run()  # the connection test runs in its own task
    assert props.address == world.bridge.url
    assert props.status == "Connected (emulator backend)"
    assert str(props.bridgeVersion).endswith("(API 1)")
    dialog = lr.h.Dialog(lr.lua.table_from({"title": "Plug-in Manager", "contents": view}))
    dialog.press(dialog, "Start bridge")
    lr.run()
    (command,) = list(lr.h.executed.values())
    assert command.endswith("'serve' >/dev/null 2>&1 &") and "imagen-bridge" in command
    assert props.status.startswith("The bridge is starting")
    dialog.press(dialog, "Show log file")
    assert list(lr.h.revealed.values()) == ["/docs/ImagenBridge.log"]
    world.bridge.stop()
    dialog.press(dialog, "Test connection")
    lr.run()
    assert "not running" in props.status


def test_an_unexpected_error_mid_run_closes_the_progress_and_says_so(world: World) -> None:
    state = raw_photos(world.shoot.root / "Error", ["A.NEF"])
    lr = world.lightroom(state, on_dialog=simple_choices())
    lr.h.failNextCaption = True
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    assert_no_scope_left_open(lr)
    (message,) = lr.messages
    assert message["style"] == "critical" and "injected failure" in message["info"]
    assert "Nothing more was changed in your catalog" in message["info"]
    assert not lr.photo("RAW-0").get("history")
    # The job is remembered: Apply Finished still brings the edit in.
    lr.menu("Apply Finished Imagen Edits")
    assert len(lr.photo("RAW-0")["history"]) == 1


def jpeg_state(folder: Path, names: list[str]) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for i, name in enumerate(names):
        (folder / name).write_bytes(jpeg_bytes(f"{folder}/{name}"))
        photos.append(
            {"uuid": f"JPG-{i}", "path": str(folder / name), "fileFormat": "JPG", "develop": {}}
        )
    return {"photos": photos, "selection": [p["uuid"] for p in photos], "prefs": {}}


def test_jpegs_with_a_jpeg_profile_get_their_settings(world: World) -> None:
    def answer(dialog: Dialog) -> str:
        assert "CLEAN & CRISP (5700)" not in dialog.items("Profile:")
        dialog.choose("Profile:", "CLEAN & CRISP (5702)")
        return "ok"

    lr = world.lightroom(
        jpeg_state(world.shoot.root / "JPEG", ["a.jpg", "b.jpg"]), on_dialog=answer
    )
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    photos = bridge_photos(world, job_id(lr))
    assert all(p["state"] == "applied" and p["kind"] == "JPEG" for p in photos.values())
    for uuid in ("JPG-0", "JPG-1"):
        settings = photos[uuid]["develop_settings"]
        assert settings and "Temperature" not in settings
        assert all(lr.photo(uuid)["develop"][k] == v for k, v in settings.items())


def test_smart_editing_runs_on_jpegs(world: World) -> None:
    def answer(dialog: Dialog) -> str:
        dialog.set("Smart Editing (JPEGs in, edited JPEGs out; no profile)", True)
        dialog.set("Perspective correction", True)
        return "ok"

    lr = world.lightroom(jpeg_state(world.shoot.root / "Smart", ["s.jpg"]), on_dialog=answer)
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    job = world.bridge.api("GET", f"/jobs/{job_id(lr)}")
    assert job["request"]["smart"] is True and job["request"]["profile_key"] is None
    (summary,) = lr.messages
    assert job["state"] == "done", summary
    (photo,) = bridge_photos(world, job_id(lr)).values()
    assert photo["state"] == "applied" and photo["develop_settings"]
    assert all(lr.photo("JPG-0")["develop"][k] == v for k, v in photo["develop_settings"].items())


def test_imagen_jobs_lists_jobs_and_cancels_or_applies_the_chosen_one(slow_world: World) -> None:
    state = raw_photos(slow_world.shoot.root / "Jobs", ["A.NEF"])
    body = {"photos": [{"path": state["photos"][0]["path"], "id": "RAW-0"}], "profile_key": 5700}
    running_job = slow_world.bridge.api("POST", "/jobs", json=body)
    seen: list[list[str]] = []

    def cancel_it(dialog: Dialog) -> str:
        seen.append(dialog.texts())
        dialog.choose("Job:", next(i for i in dialog.items("Job:") if running_job["id"] in i))
        return "other"  # "Cancel Job"

    lr = slow_world.lightroom(state, on_dialog=cancel_it)
    lr.menu("Imagen Jobs...")
    assert any(running_job["id"] in text for text in seen[0])
    assert slow_world.bridge.wait_job(running_job["id"])["state"] == "canceled"
    assert "canceled" in lr.messages[-1]["info"]

    done_job = slow_world.bridge.api("POST", "/jobs", json=body)
    slow_world.bridge.wait_job(done_job["id"])

    def apply_it(dialog: Dialog) -> str:
        dialog.choose("Job:", next(i for i in dialog.items("Job:") if done_job["id"] in i))
        return "ok"

    lr.on_dialog = apply_it
    lr.menu("Imagen Jobs...")
    assert lr.task_errors == []
    photos = bridge_photos(slow_world, done_job["id"])
    assert photos["RAW-0"]["state"] == "applied"  # found by the id a script gave it
    assert len(lr.photo("RAW-0")["history"]) == 1


def test_a_lost_answer_to_the_job_request_does_not_make_a_second_job(world: World) -> None:
    lost: list[str] = []

    def lose_first_job_answer(method: str, url: str) -> bool:
        if method == "POST" and url.endswith("/v1/jobs") and not lost:
            lost.append(url)
            return True
        return False

    state = raw_photos(world.shoot.root / "Lost", ["A.NEF"])
    lr = world.lightroom(state, on_dialog=simple_choices(), lose_answer=lose_first_job_answer)
    lr.menu("Edit with Imagen...")
    assert lost and lr.task_errors == []
    (job,) = world.bridge.api("GET", "/jobs")["jobs"]
    posts = [r for r in lr.requests if r["method"] == "POST" and r["url"].endswith("/v1/jobs")]
    keys = {dict(r["headers"])["Idempotency-Key"] for r in posts}
    assert len(posts) == 2 and len(keys) == 1
    assert job["id"] == job_id(lr) and len(lr.photo("RAW-0")["history"]) == 1


def test_many_photos_are_applied_in_batches_of_write_gates(world: World) -> None:
    names = [f"DSC_{i:04d}.NEF" for i in range(120)]
    state = raw_photos(world.shoot.root / "Big", names)
    lr = world.lightroom(state, on_dialog=simple_choices())
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    assert lr.gates == [HISTORY] * 5  # 120 photos, 25 to a gate
    photos = bridge_photos(world, job_id(lr))
    assert len(photos) == 120 and all(p["state"] == "applied" for p in photos.values())
    assert all(len(lr.photo(f"RAW-{i}")["history"]) == 1 for i in range(120))


def test_a_raw_and_jpeg_shoot_is_sent_whole_with_two_profiles(world: World) -> None:
    def answer(dialog: Dialog) -> str:
        dialog.choose("Profile:", PROFILE)
        dialog.choose("JPEG profile:", "CLEAN & CRISP (5702)")
        return "ok"

    state = raw_photos(world.shoot.root / "Mixed", ["A.NEF"])
    jpeg = world.shoot.root / "Mixed" / "A.jpg"
    jpeg.write_bytes(jpeg_bytes(str(jpeg)))
    state["photos"].append({"uuid": "JPG-9", "path": str(jpeg), "fileFormat": "JPG", "develop": {}})
    state["selection"].append("JPG-9")
    lr = world.lightroom(state, on_dialog=answer)
    lr.menu("Edit with Imagen...")
    assert lr.task_errors == []
    job = world.bridge.api("GET", f"/jobs/{job_id(lr)}")
    assert (job["request"]["profile_key"], job["request"]["jpeg_profile_key"]) == (5700, 5702)
    photos = bridge_photos(world, job["id"])
    assert {p["kind"] for p in photos.values()} == {"RAW", "JPEG"}
    assert all(p["state"] == "applied" for p in photos.values())
    assert len(lr.photo("RAW-0")["history"]) == 1 and len(lr.photo("JPG-9")["history"]) == 1


def test_exported_jpegs_are_named_in_the_summary(world: World) -> None:
    state = raw_photos(world.shoot.root / "Export", ["A.NEF", "B.NEF"])
    lr = world.lightroom(state, on_dialog=simple_choices("Export JPEGs too"))
    lr.menu("Edit with Imagen...")
    photos = bridge_photos(world, job_id(lr))
    exports = [path for p in photos.values() for path in p["exports"]]
    assert len(exports) == 2 and all(Path(path).is_file() for path in exports)
    assert (
        f"2 exported JPEG(s), such as {photos['RAW-0']['exports'][0]}." in lr.messages[-1]["info"]
    )
