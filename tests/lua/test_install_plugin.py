"""``imagen-bridge install-plugin``: the plugin copied into Lightroom's Modules folder, paired."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.commands import install_plugin
from bridge.commands.console import UsageError
from bridge.commands.install_plugin import PLUGIN_NAME, InstallError, install
from tests.lua.lightroom import PLUGIN_DIR, Lightroom

CLI = [sys.executable, "-c", "from bridge.cli import main; main()"]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config dir"
    monkeypatch.setenv("IMAGEN_BRIDGE_CONFIG_DIR", str(folder))
    monkeypatch.delenv("IMAGEN_BRIDGE_PORT", raising=False)
    return folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_installs_into_a_folder_with_spaces_and_pairs_privately(
    config: Path, tmp_path: Path
) -> None:
    modules = tmp_path / "Library" / "Application Support" / "Adobe" / "Lightroom" / "Modules"
    installed = install(modules)
    target = installed.folder
    assert target == modules / PLUGIN_NAME and installed.port == 8717
    shipped = sorted(p.name for p in PLUGIN_DIR.iterdir() if p.is_file())
    assert sorted(p.name for p in target.iterdir()) == sorted([*shipped, "pairing.json"])
    for name in shipped:
        assert (target / name).read_bytes() == (PLUGIN_DIR / name).read_bytes()
    pairing = json.loads((target / "pairing.json").read_text("utf-8"))
    token = (config / "token").read_text("ascii").strip()
    assert pairing["token"] == token and len(token) >= 43
    assert pairing["port"] == 8717 and pairing["config_dir"] == str(config)
    assert pairing["serve_command"][-1] == "serve"
    assert mode(target / "pairing.json") == 0o600
    assert mode(target) == 0o700
    assert mode(config / "token") == 0o600


def test_an_existing_token_is_kept_and_a_running_bridge_port_wins(
    config: Path, tmp_path: Path
) -> None:
    config.mkdir(mode=0o700)
    (config / "token").write_text("x" * 43 + "\n")
    (config / "token").chmod(0o600)
    (config / "server.json").write_text(
        json.dumps({"port": 40123, "url": "http://127.0.0.1:40123/v1"})
    )
    target = install(tmp_path / "m").folder
    pairing = json.loads((target / "pairing.json").read_text("utf-8"))
    assert pairing["token"] == "x" * 43 and pairing["port"] == 40123
    assert (
        json.loads(install(tmp_path / "m2", port=9999).folder.joinpath("pairing.json").read_text())[
            "port"
        ]
        == 9999
    )


def test_reinstall_replaces_the_old_copy_whole_and_leaves_no_temp_folders(
    config: Path, tmp_path: Path
) -> None:
    modules = tmp_path / "Modules"
    old = modules / PLUGIN_NAME
    old.mkdir(parents=True)
    (old / "Stale.lua").write_text("return {}")
    (old / "pairing.json").write_text('{"token": "old"}')
    install(modules)
    assert not (old / "Stale.lua").exists()
    assert json.loads((old / "pairing.json").read_text())["token"] != "old"
    assert sorted(p.name for p in modules.iterdir()) == [PLUGIN_NAME]


def test_the_installed_plugin_finds_the_bridge_and_its_token(config: Path, tmp_path: Path) -> None:
    target = install(tmp_path / "Modules").folder
    lr = Lightroom({"photos": []}, plugin_dir=target)
    client = lr.call("BridgeClient", "connect")
    assert client.baseUrl == "http://127.0.0.1:8717/v1"
    assert client.token == (config / "token").read_text().strip()


def test_modules_folder_per_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert install_plugin.default_modules_dir("darwin") == (
        tmp_path / "Library" / "Application Support" / "Adobe" / "Lightroom" / "Modules"
    )
    appdata = "/Users/Jörg/AppData/Roaming"
    assert install_plugin.default_modules_dir("win32", {"APPDATA": appdata}) == Path(
        appdata, "Adobe", "Lightroom", "Modules"
    )
    with pytest.raises(UsageError, match="APPDATA"):
        install_plugin.default_modules_dir("win32", {})
    with pytest.raises(UsageError, match="--dest"):
        install_plugin.default_modules_dir("linux")


def test_command_line(config: Path, tmp_path: Path) -> None:
    env = {**os.environ, "IMAGEN_BRIDGE_CONFIG_DIR": str(config)}
    dest = tmp_path / "Lightroom Modules"
    done = subprocess.run(
        [*CLI, "install-plugin", "--dest", str(dest)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert str(dest / PLUGIN_NAME) in said and "Plug-in Manager" in said
    scripted = subprocess.run(
        [*CLI, "install-plugin", "--dest", str(dest), "--json"], env=env, capture_output=True
    )
    document = json.loads(scripted.stdout)
    assert document == {"ok": True, "plugin_dir": str(dest / PLUGIN_NAME), "port": 8717}
    if sys.platform.startswith("linux"):
        refused = subprocess.run([*CLI, "install-plugin"], env=env, capture_output=True, text=True)
        assert refused.returncode == 2 and "--dest" in refused.stderr
        refused = subprocess.run(
            [*CLI, "install-plugin", "--json"], env=env, capture_output=True, text=True
        )
        assert json.loads(refused.stdout)["error"]["code"] == "usage"


def test_an_unwritable_destination_is_a_clear_error(config: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InstallError, match="Cannot create"):
        install(blocker / "Modules")
