"""The plug-in folder as Lightroom loads it: Info.lua's declarations and every module."""

from __future__ import annotations

import re

import pytest

from bridge import __version__
from tests.lua.lightroom import PLUGIN_DIR, TOOLKIT_ID, Lightroom

MENU_TITLES = ["Edit with Imagen...", "Apply Finished Imagen Edits", "Imagen Jobs..."]
MENU_TITLES += ["Deliver Exported Photos..."]
MENU_SCRIPTS = {"EditWithImagen.lua", "ApplyFinished.lua", "ImagenJobs.lua", "DeliverExported.lua"}
MODULES = sorted(
    p.stem for p in PLUGIN_DIR.glob("*.lua") if p.name not in MENU_SCRIPTS | {"Info.lua"}
)


def test_info_declares_the_plugin() -> None:
    info = Lightroom({"photos": []}).info()
    assert info["LrToolkitIdentifier"] == TOOLKIT_ID
    assert re.fullmatch(r"[a-z]+(\.[a-z0-9-]+)+", TOOLKIT_ID) and not TOOLKIT_ID.startswith(
        "com.adobe"
    )
    assert info["LrSdkVersion"] >= info["LrSdkMinimumVersion"] >= 4.0
    major, minor, revision = (int(x) for x in __version__.split(".")[:3])
    version = info["VERSION"]
    assert (version["major"], version["minor"], version["revision"]) == (major, minor, revision)
    assert version["display"] == __version__
    for key in ("LrLibraryMenuItems", "LrExportMenuItems"):  # Library and File > Plug-in Extras
        items = info[key]
        assert [i["title"] for i in items] == MENU_TITLES
        assert {i["file"] for i in items} == MENU_SCRIPTS
        assert items[0]["enabledWhen"] == "photosSelected"
    assert (PLUGIN_DIR / info["LrPluginInfoProvider"]).is_file()
    for script in MENU_SCRIPTS:
        assert (PLUGIN_DIR / script).is_file()


@pytest.mark.parametrize("module", MODULES)
def test_every_module_loads_in_the_sandbox_and_returns_a_table(module: str) -> None:
    lr = Lightroom({"photos": []})
    assert lr.lua.eval("type")(lr.require(module)) == "table"


def test_no_plain_pcall_outside_the_json_decoder() -> None:
    for path in PLUGIN_DIR.glob("*.lua"):
        plain = re.findall(r"(?<![\w.])pcall\(", path.read_text("utf-8"))
        assert len(plain) == (1 if path.name == "Json.lua" else 0), path.name
