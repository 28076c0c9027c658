"""``merge`` and ``undo`` as a user meets them: edit's own output, ids, headers, named files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.xmp.batch import CHUNK_SIZE
from tests.xmp_files.helpers import incoming_xmp, read_only_folder, touch


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def _edit_output_with_two_projects(tmp_path: Path) -> tuple[Path, Path]:
    """A shoot of raws and JPEGs, and an output folder laid out as ``edit`` lays out two
    projects: the raws' sidecars in project-1/, the JPEGs in project-2/, exports beside."""
    shoot = tmp_path / "Hochzeit Müller"
    touch(shoot, "IMG_1.CR2", "婚礼 2.NEF", "IMG_3.JPG")
    out = tmp_path / "imagen-output" / "2026-03-01_120000"
    (out / "project-1").mkdir(parents=True)
    (out / "project-2").mkdir()
    (out / "project-1" / "IMG_1.xmp").write_bytes(incoming_xmp("IMG_1.CR2"))
    (out / "project-1" / "婚礼 2.xmp").write_bytes(incoming_xmp("婚礼 2.NEF"))
    (out / "project-2" / "IMG_3.JPG").write_bytes(b"\xff\xd8edited\xff\xd9")
    touch(out / "exports", "IMG_1.jpg")
    return out, shoot


def test_merge_takes_edits_own_output_folder_with_recursive(tmp_path: Path) -> None:
    out, shoot = _edit_output_with_two_projects(tmp_path)
    done = invoke("merge", str(out), "--into", str(shoot), "--recursive", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["counts"]["created"] == 2
    assert (shoot / "IMG_1.xmp").is_file() and (shoot / "婚礼 2.xmp").is_file()


def test_without_recursive_the_message_says_where_the_sidecars_are(tmp_path: Path) -> None:
    out, shoot = _edit_output_with_two_projects(tmp_path)
    done = invoke("merge", str(out), "--into", str(shoot))
    assert done.exit_code == 2
    said = " ".join(done.stderr.split())
    assert "2 .xmp files in their subfolders" in said
    assert f"{out / 'project-1'}{os.sep}" in said and "add --recursive" in said
    assert not (shoot / "IMG_1.xmp").exists()


def test_an_empty_source_names_what_was_searched(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = invoke("merge", str(empty), "--into", str(tmp_path), "--recursive")
    assert done.exit_code == 2
    assert f"no .xmp files found in {empty} or their subfolders" in " ".join(done.stderr.split())


def test_same_names_from_two_projects_are_refused_per_file_not_silently(tmp_path: Path) -> None:
    """project-1/IMG_1.xmp and project-2/IMG_1.xmp (photos in day1/ and day2/): a name says
    nothing about which photo each belongs to, so both are refused and say why."""
    shoot = tmp_path / "shoot"
    touch(shoot / "day1", "IMG_1.CR2")
    touch(shoot / "day2", "IMG_1.CR2")
    out = tmp_path / "out"
    for n in (1, 2):
        (out / f"project-{n}").mkdir(parents=True)
        (out / f"project-{n}" / "IMG_1.xmp").write_bytes(incoming_xmp("IMG_1.CR2"))
    done = invoke("merge", str(out), "--into", str(shoot), "--recursive", "--json")
    assert done.exit_code == 1
    items = json.loads(done.stdout)["items"]
    assert [item["status"] for item in items] == ["refused", "refused"]
    assert all("several folders" in item["reason"] for item in items)


def test_a_failed_write_names_the_photo_not_a_sidecar_that_does_not_exist(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2")
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "IMG_1.xmp").write_bytes(incoming_xmp("IMG_1.CR2"))
    with read_only_folder(shoot):
        done = invoke("merge", str(incoming), "--into", str(shoot))
    assert done.exit_code == 1
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("failed\t")]
    assert "-> IMG_1.CR2" in line and "IMG_1.xmp\t" not in line.split(" -> ")[1]
    assert not (shoot / "IMG_1.xmp").exists()


def test_undo_list_has_column_headers_in_a_pipe(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2")
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "IMG_1.xmp").write_bytes(incoming_xmp("IMG_1.CR2"))
    assert invoke("merge", str(incoming), "--into", str(shoot)).exit_code == 0
    listed = invoke("undo", "--list")
    assert listed.exit_code == 0
    header, row = listed.stdout.splitlines()
    assert header.split("\t") == ["merge id", "time", "folder", "created", "updated", "state"]
    assert row.split("\t")[2:] == [str(shoot), "1", "0", "applied"]


def test_hints_name_the_program_as_it_can_be_run(tmp_path: Path) -> None:
    """Run from an unactivated venv, ``imagen-bridge`` is not on PATH: print its full path."""
    program = Path(sys.executable).with_name("imagen-bridge")
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2")
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "IMG_1.xmp").write_bytes(incoming_xmp("IMG_1.CR2"))
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(program), "merge", str(incoming), "--into", str(shoot)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"To undo it: {program} undo " in done.stdout
    on_path = {**env, "PATH": f"{program.parent}{os.pathsep}{env['PATH']}"}
    undone = subprocess.run(
        ["imagen-bridge", "undo", "--last"], capture_output=True, text=True, env=on_path,
        check=False,
    )  # fmt: skip
    assert undone.returncode == 0, undone.stderr
    again = subprocess.run(
        ["imagen-bridge", "merge", str(incoming), "--into", str(shoot)],
        capture_output=True, text=True, env=on_path, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "To undo it: imagen-bridge undo " in again.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_merge_stopped_by_sigterm_reports_what_it_wrote_and_can_be_undone(
    tmp_path: Path,
) -> None:
    """The JSON of an interrupted merge lists the files written before the stop, each of
    them journaled: ``undo --last`` puts the folder back as it was."""
    count = 3000
    shoot = tmp_path / "shoot"
    touch(shoot, *(f"IMG_{n:04}.CR2" for n in range(count)))
    incoming = tmp_path / "in"
    incoming.mkdir()
    for n in range(count):
        (incoming / f"IMG_{n:04}.xmp").write_bytes(incoming_xmp(f"IMG_{n:04}.CR2"))
    before = sorted(p.name for p in shoot.iterdir())
    program = Path(sys.executable).with_name("imagen-bridge")
    process = subprocess.Popen(
        [str(program), "merge", str(incoming), "--into", str(shoot), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # Chunks are written one after another, each reported before the next starts: once a
        # file of the second chunk exists, the first has been reported.
        while process.poll() is None and len(list(shoot.glob("*.xmp"))) <= CHUNK_SIZE:
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    report = json.loads(out)
    assert report["ok"] is False and report["error"]["code"] == "interrupted"
    written = [item for item in report["items"] if item["status"] == "created"]
    assert 0 < len(written) < count
    assert all(Path(item["sidecar"]).is_file() for item in written)
    assert report["undo"].endswith("undo --list")
    assert not [p.name for p in shoot.iterdir() if p.name.startswith(".")]  # no temp files

    undone = invoke("undo", "--last")
    assert undone.exit_code == 0, undone.output
    assert sorted(p.name for p in shoot.iterdir()) == before
