"""With ``--json`` every command prints one JSON document, whatever happens; ``ok`` is true
exactly when the exit code is 0 (docs/cli-json.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import _COMMANDS, app
from bridge.settings import EMULATOR_NOTICE, config_file
from tests.xmp_files.helpers import incoming_xmp, touch


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env=env)


def _error(result, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["error"]["code"] == code, document
    assert document["error"]["message"]
    return document  # type: ignore[no-any-return]


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_a_usage_error_is_a_json_document(command: str) -> None:
    done = invoke(command, "--no-such-option", "--json")
    assert done.exit_code == 2
    assert "no-such-option" in _error(done, "usage")["error"]["message"]
    assert "no-such-option" in done.stderr  # and the usual message for people


@pytest.mark.parametrize(
    "args",
    [
        ["merge", "--json"],  # no sources
        ["merge", "nowhere.xmp", "--json"],  # no --into
        ["merge", "--naming", "capture-one", "x.xmp", "--into", ".", "--json"],
        ["edit", "--json"],  # no photos
        ["undo", "--json"],  # none of id, --last, --list
        ["undo", "--last", "--list", "--json"],
        ["undo", "20990101-000000-000000-beef", "--json"],  # no such merge
        ["undo", "bogus-id", "--json"],
    ],
)
def test_usage_errors_found_by_the_parser_or_the_command(args: list[str]) -> None:
    done = invoke(*args)
    assert done.exit_code == 2, done.output
    _error(done, "usage")


def test_undo_of_an_unknown_id_is_a_usage_error_that_says_where_ids_are() -> None:
    done = invoke("undo", "bogus-id")
    assert done.exit_code == 2
    assert "no merge 'bogus-id'" in done.stderr and "undo --list" in done.stderr


@pytest.mark.parametrize("command", [["profiles", "--json"], ["undo", "--list", "--json"]])
def test_a_configuration_error_is_exit_2_with_code_config(command: list[str]) -> None:
    done = invoke(*command, env={"IMAGEN_BRIDGE_BASE_URL": "notaurl"})
    assert done.exit_code == 2, done.output
    message = _error(done, "config")["error"]["message"]
    assert "IMAGEN_BRIDGE_BASE_URL" in message and "notaurl" in message


def test_a_misspelt_config_key_stops_the_command_instead_of_using_the_emulator() -> None:
    path = config_file()
    path.parent.mkdir(parents=True)
    path.write_text('apikey = "s3cret-key-value"\n', encoding="utf-8")
    done = invoke("profiles")
    assert done.exit_code == 2
    said = " ".join(done.stderr.split())
    assert str(path) in said and "'apikey'" in said and "did you mean api_key?" in said
    assert EMULATOR_NOTICE not in said
    assert "s3cret-key-value" not in done.output


def test_ok_follows_the_exit_code_when_some_files_are_refused(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2", "IMG_2.JPG")
    incoming = tmp_path / "in"
    incoming.mkdir()
    for name in ("IMG_1", "IMG_2"):
        (incoming / f"{name}.xmp").write_bytes(incoming_xmp(None))
    done = invoke("merge", str(incoming), "--into", str(shoot), "--json")
    assert done.exit_code == 1
    document = json.loads(done.stdout)
    assert document["ok"] is False and "error" not in document
    assert document["counts"]["created"] == 1 and document["counts"]["refused"] == 1

    fine = invoke("merge", str(incoming / "IMG_1.xmp"), "--into", str(shoot), "--json")
    assert fine.exit_code == 0 and json.loads(fine.stdout)["ok"] is True


def test_profiles_json_is_an_object_with_the_profiles() -> None:
    done = invoke("profiles", "--json")
    assert done.exit_code == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is True
    assert {"profile_key": 5700, "image_type": "RAW"}.items() <= document["profiles"][0].items()


def test_undo_list_json_is_an_object_with_the_merges() -> None:
    done = invoke("undo", "--list", "--json")
    assert done.exit_code == 0
    assert json.loads(done.stdout) == {"ok": True, "merges": []}


def test_edit_usage_errors_found_by_the_command_print_json(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.CR2"
    photo.write_bytes(b"raw")
    done = invoke("edit", str(photo), "--json")  # no --profile
    assert done.exit_code == 2
    _error(done, "usage")
