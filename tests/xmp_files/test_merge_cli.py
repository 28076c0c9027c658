"""``imagen-bridge merge`` / ``undo`` from the outside: output, JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.commands import merge as merge_command
from tests.xmp_files.helpers import incoming_xmp, photographer_sidecar, touch

runner = CliRunner()


def _shoot(tmp_path: Path, shared_dir: Path) -> tuple[Path, Path]:
    shoot = tmp_path / "Shoot Zürich 写真 📷"
    touch(shoot, "IMG_1.CR2", "IMG_2.CR2", "IMG_3.JPG")
    (shoot / "IMG_1.xmp").write_bytes(photographer_sidecar(shared_dir))
    incoming = tmp_path / "from imagen"
    incoming.mkdir()
    for n in (1, 2, 3):
        (incoming / f"IMG_{n}.xmp").write_bytes(incoming_xmp(f"IMG_{n}.CR2"))
    return shoot, incoming


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_dry_run_json_then_merge_then_undo(tmp_path: Path, shared_dir: Path) -> None:
    shoot, incoming = _shoot(tmp_path, shared_dir)
    before = _files(shoot)

    dry = runner.invoke(app, ["merge", str(incoming), "--into", str(shoot), "--dry-run", "--json"])
    assert dry.exit_code == 1, dry.output  # IMG_3 is a JPEG: refused
    data = json.loads(dry.stdout)
    assert data["dry_run"] is True and data["merge_id"] is None
    assert data["counts"] == {"created": 1, "updated": 1, "unchanged": 0, "refused": 1,
                              "failed": 0}  # fmt: skip
    by_name = {Path(i["source"]).name: i for i in data["items"]}
    assert "Exposure2012" in by_name["IMG_1.xmp"]["changes"]["changed"]
    assert "settings go to Lightroom" in by_name["IMG_3.xmp"]["reason"]
    assert _files(shoot) == before

    sources = [str(incoming / "IMG_1.xmp"), str(incoming / "IMG_2.xmp")]
    real = runner.invoke(app, ["merge", *sources, "--into", str(shoot)])
    assert real.exit_code == 0, real.output
    assert "1 created, 1 updated" in real.stdout
    merge_id = real.stdout.split("Merge id: ")[1].split(".")[0]
    assert f"imagen-bridge undo {merge_id}" in real.stdout
    assert (shoot / "IMG_2.xmp").exists()

    again = runner.invoke(app, ["merge", *sources, "--into", str(shoot), "--json"])
    assert again.exit_code == 0
    assert json.loads(again.stdout)["counts"]["unchanged"] == 2

    listed = runner.invoke(app, ["undo", "--list", "--json"])
    assert listed.exit_code == 0
    (entry,) = json.loads(listed.stdout)["merges"]
    assert (entry["merge_id"], entry["created"], entry["updated"]) == (merge_id, 1, 1)
    assert entry["into"] == str(shoot)

    undone = runner.invoke(app, ["undo", "--last"])
    assert undone.exit_code == 0, undone.output
    assert "restored" in undone.stdout and "removed" in undone.stdout
    assert _files(shoot) == before

    twice = runner.invoke(app, ["undo", merge_id])
    assert twice.exit_code == 1
    assert "already undone" in twice.stderr


def test_plain_output_lists_each_file(tmp_path: Path, shared_dir: Path) -> None:
    shoot, incoming = _shoot(tmp_path, shared_dir)
    result = runner.invoke(app, ["merge", str(incoming), "--into", str(shoot), "--dry-run"])
    lines = result.stdout.splitlines()
    assert any(line.startswith("would be updated\t") and "IMG_1.xmp" in line for line in lines)
    assert any(line.startswith("would be refused\t") and "IMG_3" in line for line in lines)
    assert "Dry run: nothing was written." in lines


def test_usage_errors_exit_2(tmp_path: Path, shared_dir: Path) -> None:
    shoot, incoming = _shoot(tmp_path, shared_dir)
    cases = [
        ["merge", str(incoming)],  # no --into
        ["merge", str(incoming), "--into", str(tmp_path / "nowhere")],
        ["merge", str(tmp_path / "missing.xmp"), "--into", str(shoot)],
        ["merge", str(shoot / "IMG_1.CR2"), "--into", str(shoot), "--naming", "capture-one"],
        ["merge", str(tmp_path / "empty"), "--into", str(shoot)],
        ["undo"],
        ["undo", "--last", "--list"],
    ]
    (tmp_path / "empty").mkdir()
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
    assert _files(shoot)["IMG_1.xmp"] == photographer_sidecar(shared_dir)


def test_undo_errors(tmp_path: Path) -> None:
    nothing = runner.invoke(app, ["undo", "--last"])
    assert nothing.exit_code == 1
    assert "no merges" in nothing.stderr
    hostile = runner.invoke(app, ["undo", "../../etc/passwd"])
    assert hostile.exit_code == 2  # an id that names no merge is a usage error
    assert "no merge '../../etc/passwd'" in hostile.stderr
    empty = runner.invoke(app, ["undo", "--list"])
    assert empty.exit_code == 0
    assert "No merges" in empty.stdout


def test_control_characters_in_names_are_not_sent_to_the_terminal(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2")
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "\x1b[2Jevil\x07.xmp").write_bytes(incoming_xmp(None))
    result = runner.invoke(app, ["merge", str(incoming), "--into", str(shoot)])
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[2Jevil\\x07.xmp" in result.stdout


def test_installed_command_with_unicode_arguments(tmp_path: Path, shared_dir: Path) -> None:
    shoot, incoming = _shoot(tmp_path, shared_dir)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("imagen-bridge")), "merge", str(incoming / "IMG_2.xmp"),
         "--into", str(shoot), "--json"],
        capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["items"][0]["sidecar"] == str(shoot / "IMG_2.xmp")
    assert (shoot / "IMG_2.xmp").exists()


def test_undo_json_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, os.fsdecode(b"IMG_\xe9.CR2"))
    sidecar = shoot / os.fsdecode(b"IMG_\xe9.xmp")
    sidecar.write_bytes(incoming_xmp(None, exposure="-1.00"))
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / os.fsdecode(b"IMG_\xe9.xmp")).write_bytes(incoming_xmp(None))
    merged = runner.invoke(app, ["merge", str(incoming), "--into", str(shoot), "--json"])
    assert merged.exit_code == 0, merged.output
    sidecar.chmod(0o444)  # the photographer locked it since: undo may not replace it
    undone = runner.invoke(app, ["undo", "--last", "--json"])
    assert undone.exit_code == 1, undone.exception
    (item,) = json.loads(undone.stdout)["items"]
    assert item["outcome"] == "failed"
    assert "IMG_\\udce9.xmp is read-only" in item["reason"]


@pytest.mark.parametrize("stop_at", [1, 2])
def test_json_is_one_valid_document_when_a_merge_is_interrupted_mid_stream(
    tmp_path: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch, stop_at: int
) -> None:
    """``--json`` streams its items; a stop after some of them still ends the document: the
    items written so far, their counts, the error, ``ok: false``."""
    shoot, incoming = _shoot(tmp_path, shared_dir)
    real_item = merge_command._item_json
    seen: list[object] = []

    def stop(item: Any) -> dict[str, Any]:
        seen.append(item)
        if len(seen) == stop_at:
            raise KeyboardInterrupt
        return real_item(item)

    monkeypatch.setattr(merge_command, "_item_json", stop)
    result = runner.invoke(app, ["merge", str(incoming), "--into", str(shoot), "--json"])
    assert result.exit_code == 130, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["error"]["code"] == "interrupted"
    assert [Path(i["source"]).name for i in data["items"]] == ["IMG_1.xmp"][: stop_at - 1]
    assert data["counts"]["updated"] == 1  # counted when done, even if not yet printed
    assert data["undo"] is not None  # what was merged can be undone
    assert data["dry_run"] is False and data["into"] == str(shoot)


def test_a_big_merge_in_a_pipe_lists_every_file_as_it_goes(tmp_path: Path) -> None:
    shoot, incoming = tmp_path / "shoot", tmp_path / "in"
    names = [f"DSC_{n:03d}" for n in range(60)]  # above the terminal's problems-only size
    touch(shoot, *(f"{n}.NEF" for n in names))
    for name in names:
        touch(incoming, f"{name}.xmp", data=incoming_xmp(f"{name}.NEF"))
    touch(incoming, "stray.xmp", data=incoming_xmp(None))
    result = runner.invoke(app, ["merge", str(incoming), "--into", str(shoot)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split("\t")[1].split(" -> ")[0] for line in lines[:61]] == sorted(
        str(incoming / f"{n}.xmp") for n in [*names, "stray"]
    )
    assert lines[61] == "60 created, 1 refused"
