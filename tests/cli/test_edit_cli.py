"""``imagen-bridge profiles`` and ``edit``: exit codes, messages, JSON, the emulator notice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.settings import EMULATOR_NOTICE
from tests.jobs.helpers import disk_with, files_under, make_photos

QUICK_ENV = {"IMAGEN_EMULATOR_FAULT_PROCESSING_S": "0.2"}


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env={**QUICK_ENV, **(env or {})})


def test_edit_json_survives_a_folder_name_that_is_not_utf8(tmp_path: Path) -> None:
    """The summary (with the undo id) must print even under an old-encoding folder name."""
    folder = tmp_path / os.fsdecode(b"Hochzeit M\xfcller")  # Latin-1 bytes from an old share
    photos = make_photos(folder, ["IMG_1.CR2"])
    command = [str(Path(sys.executable).parent / "imagen-bridge"), "edit", str(photos[0])]
    done = subprocess.run(
        [*command, "-p", "5700", "--out", str(tmp_path / "out"), "--json"],
        capture_output=True,
        env={**os.environ, **QUICK_ENV},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    summary = json.loads(done.stdout.decode("utf-8"))
    assert os.fsencode(summary["photos"][0]["path"]) == os.fsencode(photos[0])
    assert summary["photos"][0]["sidecar"]["status"] == "created" and summary["merge_id"]


def test_profiles_table_and_json() -> None:
    table = invoke("profiles")
    assert table.exit_code == 0, table.stderr
    assert "CLEAN & CRISP" in table.stdout and "5700" in table.stdout
    assert EMULATOR_NOTICE in " ".join(table.stderr.split())

    as_json = invoke("profiles", "--json")
    assert as_json.exit_code == 0
    document = json.loads(as_json.stdout)
    assert document["ok"] is True
    rows = document["profiles"]
    assert {"profile_key": 5700, "image_type": "RAW"}.items() <= rows[0].items()


def test_edit_json_summary(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2", "Café 2.NEF"])
    out = tmp_path / "out"
    done = invoke("edit", *map(str, photos), "--profile", "5700", "--out", str(out), "--json")
    assert done.exit_code == 0, done.stderr
    assert EMULATOR_NOTICE in " ".join(done.stderr.split())
    summary = json.loads(done.stdout)
    assert summary["ok"] is True and summary["edited"] == 2 and summary["failed"] == 0
    assert summary["out_dir"] == str(out)
    assert [(p["path"], p["status"]) for p in summary["photos"]] == [
        (str(photos[0]), "edited"),
        (str(photos[1]), "edited"),
    ]
    assert summary["photos"][1]["outputs"] == [str(out / "Café 2.xmp")]
    assert sorted(files_under(out)) == ["Café 2.xmp", "IMG_1.xmp"]
    # merged by default: a new sidecar beside each raw, equal to what Imagen sent
    assert summary["photos"][1]["sidecar"] == {
        "status": "created",
        "path": str(tmp_path / "shoot" / "Café 2.xmp"),
        "reason": None,
    }
    assert summary["merge_id"]
    beside = (tmp_path / "shoot" / "IMG_1.xmp").read_bytes()
    assert b"camera-raw-settings" in beside

    again = invoke("edit", *map(str, photos), "-p", "5700", "--out", str(tmp_path / "2"), "--json")
    assert again.exit_code == 0
    assert [p["sidecar"]["status"] for p in json.loads(again.stdout)["photos"]] == [
        "unchanged",
        "unchanged",
    ]


def test_no_merge_leaves_the_photo_folder_alone(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2"])
    done = invoke("edit", str(photos[0]), "-p", "5700", "--out", str(tmp_path / "o"), "--no-merge")
    assert done.exit_code == 0
    assert sorted(files_under(tmp_path / "shoot")) == ["IMG_1.CR2"]
    assert sorted(files_under(tmp_path / "o")) == ["IMG_1.xmp"]


def test_raws_that_would_share_a_sidecar_are_refused_before_any_upload(tmp_path: Path) -> None:
    """IMG_1.CR2 + IMG_1.NEF would share IMG_1.xmp: said before credits are spent."""
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2", "IMG_1.NEF"])
    done = invoke("edit", *map(str, photos), "-p", "5700", "--out", str(tmp_path / "o"))
    assert done.exit_code == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "IMG_1.CR2 and IMG_1.NEF would share the sidecar IMG_1.xmp" in message
    assert "--no-merge" in message and "--naming darktable" in message
    assert EMULATOR_NOTICE not in done.stderr  # refused before the (emulated) service
    assert not (tmp_path / "o").exists()
    darktable = invoke(
        "edit", *map(str, photos), "-p", "5700", "--naming", "darktable", "--out",
        str(tmp_path / "o2"),
    )  # fmt: skip
    assert darktable.exit_code == 0, darktable.stderr
    assert sorted(files_under(tmp_path / "shoot")) == [
        "IMG_1.CR2", "IMG_1.CR2.xmp", "IMG_1.NEF", "IMG_1.NEF.xmp",
    ]  # fmt: skip


def test_a_refused_merge_exits_1_and_says_why(tmp_path: Path) -> None:
    """A read-only sidecar is not written: the photo is edited, its merge refused, exit 1."""
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2"])
    sidecar = tmp_path / "shoot" / "IMG_1.xmp"
    sidecar.write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    sidecar.chmod(0o444)
    done = invoke("edit", *map(str, photos), "-p", "5700", "--out", str(tmp_path / "o"), "--json")
    assert done.exit_code == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is False and summary["edited"] == 1
    assert summary["photos"][0]["sidecar"]["status"] in ("refused", "failed")
    assert sidecar.read_bytes() == b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"


def test_raw_jpeg_pairs_send_the_raw_and_lone_jpegs_take_the_jpg_profile(tmp_path: Path) -> None:
    """A NEF+JPG folder under one profile name: pairs count once (the RAW), a lone JPEG is
    edited with the JPG profile of the same name, in the same run."""
    photos = make_photos(tmp_path / "shoot", ["DSC_1.NEF", "DSC_1.JPG", "DSC_2.NEF", "solo.jpg"])
    done = invoke(
        "edit", str(tmp_path / "shoot"), "-p", "CLEAN & CRISP", "--out", str(tmp_path / "o"),
        "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    edited = sorted(Path(p["path"]).name for p in summary["photos"])
    assert edited == ["DSC_1.NEF", "DSC_2.NEF", "solo.jpg"]
    assert "DSC_1.JPG: the JPEG of a RAW+JPEG pair" in " ".join(done.stderr.split())
    assert [(Path(f["path"]).name, f["reason"]) for f in summary["skipped"]] == [
        ("DSC_1.JPG", "the JPEG of a RAW+JPEG pair; its RAW is edited")
    ]
    assert photos[1].read_bytes()[:2] == b"\xff\xd8"  # the paired JPEG is untouched
    assert summary["projects"] == 2  # RAW and JPEG never share a project


def test_profile_by_exact_name_follows_the_photos_kind(tmp_path: Path) -> None:
    """Two profiles are called CLEAN & CRISP (RAW 5700, JPG 5702): the photos decide."""
    jpegs = make_photos(tmp_path / "jpg", ["a.jpg"])
    done = invoke("edit", str(jpegs[0]), "--profile", "clean & crisp", "--out", str(tmp_path / "o"))
    assert done.exit_code == 0, done.stderr
    assert (tmp_path / "o" / "a.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_default_output_folder_is_new_and_timestamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2"])
    for _ in range(2):
        assert invoke("edit", str(photos[0]), "-p", "5700").exit_code == 0
    runs = sorted((tmp_path / "imagen-output").iterdir())
    assert len(runs) == 2
    assert all((run / "IMG_1.xmp").is_file() for run in runs)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (["x.HEIC"], ["-p", "5700"], "unsupported file type '.HEIC'"),
        ([], ["missing.CR2", "-p", "5700"], "missing.CR2: no such file or folder"),
        (["a.CR2", "b.jpg"], ["-p", "5700"], "b.jpg: JPEG file, but the profile 'CLEAN & CRISP'"),
        (["a.CR2"], ["-p", "99999"], "No profile with key 99999"),
        (["a.CR2"], [], "--profile is required"),
        (
            ["a.CR2"],
            ["-p", "5700", "--crop", "--portrait-crop"],
            "at most one of --crop, --portrait-crop",
        ),
        (["a.jpg"], ["--smart", "--crop"], "--crop cannot be used with --smart"),
        (["a.CR2"], ["--smart"], "a.CR2: RAW file, but the Smart Editing"),
        (["a.CR2"], ["-p", "5700", "--type", "weddings"], "Unknown photography type"),
        (["a.jpg"], ["-p", "5702", "--hdr-merge"], "HDR merge of a profile edit takes RAW"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(
    tmp_path: Path, setup: list[str], args: list[str], message: str
) -> None:
    photos = make_photos(tmp_path, setup)
    paths = [str(p) for p in photos] or [str(tmp_path / a) for a in args[:1]]
    rest = args if photos else args[1:]
    done = invoke("edit", *paths, *rest, "--out", str(tmp_path / "out"))
    assert done.exit_code == 2, (done.stdout, done.stderr)
    assert message in " ".join(done.stderr.split())
    assert not (tmp_path / "out").exists()


def test_a_bad_type_is_refused_before_any_network_call(tmp_path: Path) -> None:
    """Nothing listens on the configured URL: only a local check can answer."""
    photos = make_photos(tmp_path, ["a.CR2"])
    env = {"IMAGEN_API_KEY": "k", "IMAGEN_BRIDGE_BASE_URL": "http://127.0.0.1:9/v1"}
    done = invoke("edit", str(photos[0]), "-p", "5700", "--type", "weddings", env=env)
    assert done.exit_code == 2, done.stderr
    assert "Unknown photography type" in " ".join(done.stderr.split())


def test_a_non_empty_output_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    photos = make_photos(tmp_path / "in", ["a.CR2"])
    done = invoke("edit", str(photos[0]), "-p", "5700", "--out", str(out))
    assert done.exit_code == 2
    assert "already holds files" in done.stderr
    assert files_under(out) == {"keep.txt": b"mine"}


def test_failed_photos_exit_1_and_are_named(tmp_path: Path) -> None:
    photos = make_photos(tmp_path, ["a.CR2", "b.CR2"])
    env = {"IMAGEN_EMULATOR_FAULT_FAIL_FILES": "b.CR2"}
    done = invoke(
        "edit", *map(str, photos), "-p", "5700", "--out", str(tmp_path / "o"), "--json", env=env
    )
    assert done.exit_code == 1
    summary = json.loads(done.stdout)
    status = {Path(p["path"]).name: (p["status"], p["error"]) for p in summary["photos"]}
    assert status["a.CR2"] == ("edited", None)
    assert status["b.CR2"][0] == "failed" and "b.CR2" in status["b.CR2"][1]
    human = invoke("edit", *map(str, photos), "-p", "5700", "--out", str(tmp_path / "h"), env=env)
    assert human.exit_code == 1
    assert "Edited 1 of 2 photos." in human.stdout
    assert f"failed: {photos[1]}" in human.stdout


def test_wrong_api_key_exits_2_naming_its_source_not_the_key(
    tmp_path: Path, threaded_emulator
) -> None:
    emulator = threaded_emulator(api_key="the-right-key")
    photos = make_photos(tmp_path, ["a.CR2"])
    secret = "wrong-key-4f9a1c"
    env = {"IMAGEN_API_KEY": secret, "IMAGEN_BRIDGE_BASE_URL": emulator.base_url}
    for args in (
        ["profiles"],
        ["edit", str(photos[0]), "-p", "5700", "--out", str(tmp_path / "o")],
    ):
        done = invoke(*args, env=env)
        assert done.exit_code == 2, done.stderr
        said = " ".join(done.stderr.split())
        assert "IMAGEN_API_KEY environment variable" in said
        assert secret not in done.stdout + done.stderr
        assert EMULATOR_NOTICE not in said


def test_the_real_service_path_uses_the_configured_key(tmp_path: Path, threaded_emulator) -> None:
    emulator = threaded_emulator(api_key="the-right-key", faults=_quick())
    photos = make_photos(tmp_path, ["a.CR2"])
    env = {"IMAGEN_API_KEY": "the-right-key", "IMAGEN_BRIDGE_BASE_URL": emulator.base_url}
    done = invoke("edit", str(photos[0]), "-p", "5700", "--out", str(tmp_path / "o"), env=env)
    assert done.exit_code == 0, done.stderr
    assert EMULATOR_NOTICE not in " ".join(done.stderr.split())
    assert "the-right-key" not in done.stdout + done.stderr


def test_more_photos_than_a_job_takes_is_a_usage_error_before_anything_starts(
    tmp_path: Path,
) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for n in range(20_001):
        (shoot / f"IMG_{n:05d}.CR2").write_bytes(b"r")
    out = tmp_path / "out"
    done = invoke("edit", str(shoot), "-p", "5700", "--out", str(out))
    assert done.exit_code == 2, done.stderr
    assert "20,001 photos given; a job takes at most 20,000" in " ".join(done.stderr.split())
    assert not out.exists()  # the folder made for this run is gone again


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGINT, 130, "Cancelled (Ctrl-C)"), (signal.SIGTERM, 143, "Cancelled (SIGTERM)")],
)
def test_a_stop_signal_exits_128_plus_n_and_leaves_no_partial_files(
    tmp_path: Path, sig: signal.Signals, code: int, said: str
) -> None:
    """Ctrl-C and SIGTERM end alike: transfers stop, no .part file in --out, and the embedded
    emulator's temp storage (hundreds of MB in a real run) is removed."""
    photos = make_photos(tmp_path / "in", [f"IMG_{n}.CR2" for n in range(8)], size=400_000)
    out = tmp_path / "out"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(temp),
        "IMAGEN_EMULATOR_FAULT_PROCESSING_S": "0.3",
        "IMAGEN_EMULATOR_FAULT_LATENCY_MS": "150",
    }
    command = [str(Path(sys.executable).parent / "imagen-bridge"), "edit", *map(str, photos)]
    process = subprocess.Popen(
        [*command, "-p", "5700", "--out", str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in process.stderr:  # plain lines: stderr is not a terminal
        seen.append(line)
        if "downloading outputs" in line or time.monotonic() > deadline:
            break
    process.send_signal(sig)
    summary, rest = process.communicate(timeout=60)
    assert process.returncode == code, "".join(seen) + rest
    assert said in rest
    # the summary counts the photos still on their way, it does not list each of them
    edited = int(re.findall(r"Edited (\d+) of 8 photos", summary)[0])
    failed = summary.count("  failed: ")
    waiting = re.findall(r"not edited: (\d+) photos? \(", summary)
    assert [int(n) for n in waiting] == ([8 - edited - failed] if edited + failed < 8 else [])
    assert not any(f"{photo}:" in summary for photo in photos)
    assert list(temp.iterdir()) == []
    assert not [name for name in files_under(out) if Path(name).name.startswith(".")]
    assert all(name.endswith(".xmp") for name in files_under(out))


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    done = invoke("demo", "--folder", str(tmp_path), "--processing-seconds", "0.2")
    assert done.exit_code == 0, done.stderr
    assert "built-in offline emulator" in done.stderr
    shoot = sorted(p.name for p in (tmp_path / "shoot").iterdir())
    assert "Hochzeit Müller 04.CR2" in shoot and "婚礼 05.NEF" in shoot
    first = (tmp_path / "shoot" / shoot[0]).read_bytes()
    assert first.startswith(b"IMAGEN-BRIDGE DEMO FILE: a synthetic stand-in")
    edits = files_under(tmp_path / "edits")
    assert len([n for n in edits if n.endswith(".xmp")]) == 6
    assert len([n for n in edits if n.startswith("exports/")]) == 6
    assert "Exposure2012" in done.stdout
    assert (tmp_path / "shoot" / "DSC_0001.xmp").is_file()
    assert "imagen-bridge undo" in done.stdout


def test_demo_refuses_a_folder_that_holds_files(tmp_path: Path) -> None:
    """A sample file of the same name must not replace the photographer's."""
    mine = tmp_path / "shoot" / "DSC_0001.NEF"
    mine.parent.mkdir()
    mine.write_bytes(b"a real raw")
    done = invoke("demo", "--folder", str(tmp_path), "--processing-seconds", "0")
    assert done.exit_code == 2, done.stderr
    assert "not a new or empty folder" in " ".join(done.stderr.split())
    assert files_under(tmp_path) == {"shoot/DSC_0001.NEF": b"a real raw"}


def _quick():  # type: ignore[no-untyped-def]
    from bridge.emulator.faults import FaultConfig

    return FaultConfig(processing_s=0.2)


@pytest.mark.parametrize("where", ["afile/sub", "/proc/imagen-bridge-nope"])
def test_an_output_folder_that_cannot_be_made_is_refused_before_any_upload(
    tmp_path: Path, where: str
) -> None:
    photos = make_photos(tmp_path / "in", ["a.CR2"])
    (tmp_path / "afile").write_text("not a folder")
    out = str(tmp_path / where) if not where.startswith("/") else where
    done = invoke("edit", str(photos[0]), "-p", "5700", "--out", out)
    assert done.exit_code == 2, done.stderr
    assert "cannot be created" in done.stderr
    assert EMULATOR_NOTICE not in done.stderr  # nothing was sent anywhere


def test_two_runs_in_the_same_second_get_their_own_output_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime

    from bridge.commands.edit import choose_out_dir

    monkeypatch.chdir(tmp_path)
    now = datetime(2026, 3, 1, 12, 0, 0)
    first, made_first = choose_out_dir(None, now=now)
    second, made_second = choose_out_dir(None, now=now)
    assert first != second and made_first and made_second
    assert first.is_dir() and second.is_dir()


def test_an_output_folder_holding_only_desktop_litter_counts_as_empty(tmp_path: Path) -> None:
    from bridge.commands.edit import choose_out_dir

    out = tmp_path / "out"
    out.mkdir()
    (out / ".DS_Store").write_bytes(b"\0")
    assert choose_out_dir(out) == (out, False)
    (out / "IMG_1.xmp").write_text("mine")
    with pytest.raises(Exception, match="already holds files"):
        choose_out_dir(out)


@pytest.mark.parametrize("export", [False, True])
def test_an_output_disk_too_full_for_the_outputs_is_refused_before_any_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export: bool
) -> None:
    """Sidecars need little room, so a nearly full disk still takes them; exported JPEGs
    (about a photo's size each) need their own room, and are refused before anything goes."""
    import shutil

    photos = make_photos(tmp_path / "in", [f"IMG_{n}.CR2" for n in range(10)], size=2**20)
    disk_with(monkeypatch, tmp_path, 72 * 2**20)  # the margin, sidecars, not 10 MB of JPEGs
    assert shutil.disk_usage(tmp_path).free == 72 * 2**20
    out = tmp_path / "out"
    done = invoke("edit", *map(str, photos), "-p", "5700", "--out", str(out),
                  *(["--export"] if export else []))  # fmt: skip
    if export:
        assert done.exit_code == 2, done.stderr
        message = " ".join(done.stderr.split())
        assert (
            "Only 72 MB free" in message and "the outputs of 10 photos need about 76 MB" in message
        )
        assert EMULATOR_NOTICE not in done.stderr  # nothing was sent anywhere
        assert not out.exists()
    else:
        assert done.exit_code == 0, done.stderr
        assert len(list(out.rglob("*.xmp"))) == 10


@pytest.mark.skipif(sys.platform == "win32", reason="file-handle limits are POSIX rlimits")
def test_a_shoot_larger_than_the_file_handle_limit_downloads_every_output(tmp_path: Path) -> None:
    """Outputs wait for a connection without holding a temp file open: 600 outputs under a
    limit of 256 handles all land (before, every download opened its file at once)."""
    import resource

    photos = make_photos(tmp_path / "in", [f"IMG_{n:04}.CR2" for n in range(600)], size=2000)
    out = tmp_path / "out"

    def few_handles() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    done = subprocess.run(
        [str(Path(sys.executable).parent / "imagen-bridge"), "edit", str(tmp_path / "in"),
         "-p", "5700", "--out", str(out), "--no-merge", "--quiet", "--json"],
        capture_output=True, text=True, preexec_fn=few_handles, timeout=300,
        env={**os.environ, **QUICK_ENV, "IMAGEN_BRIDGE_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["edited"] == len(photos) and summary["failed"] == 0
    assert len(list(out.rglob("*.xmp"))) == len(photos)
