"""``POST /v1/merge``, ``POST /v1/undo``, ``GET /v1/merges`` on real folders: the same JSON
as the CLI's ``--json``, the same journal, byte-exact undo."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from bridge.cli import app as cli
from tests.server.support import Live
from tests.xmp_files.helpers import incoming_xmp, touch

OWN_SIDECAR = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmp:Rating="4"><dc:subject><rdf:Bag><rdf:li>Hochzeit</rdf:li></rdf:Bag></dc:subject>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def _shoot(tmp_path: Path) -> tuple[Path, Path]:
    shoot = tmp_path / "Hochzeit Müller 婚礼 🌅"
    touch(shoot, "IMG_1.CR2", "Jörg 2.NEF", "IMG_3.JPG")
    (shoot / "IMG_1.xmp").write_bytes(OWN_SIDECAR)
    incoming = tmp_path / "from imagen"
    incoming.mkdir()
    for name in ("IMG_1.CR2", "Jörg 2.NEF", "IMG_3.JPG"):
        (incoming / f"{name.rsplit('.', 1)[0]}.xmp").write_bytes(incoming_xmp(name))
    return shoot, incoming


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _without_times(data: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in data.items() if k not in ("merge_id", "undo")}


async def test_merge_then_undo_over_http(guarded: Live, tmp_path: Path) -> None:
    shoot, incoming = _shoot(tmp_path)
    before = _files(shoot)
    body = {"sources": [str(incoming)], "into": str(shoot)}

    dry = await guarded.call("POST", "/v1/merge", json_body={**body, "dry_run": True})
    assert dry.status == 200
    assert dry.json["dry_run"] is True and dry.json["merge_id"] is None
    assert dry.json["counts"] == {"created": 1, "updated": 1, "unchanged": 0, "refused": 1,
                                  "failed": 0}  # fmt: skip
    assert _files(shoot) == before

    real = await guarded.call("POST", "/v1/merge", json_body=body)
    assert real.status == 200
    merge_id = real.json["merge_id"]
    assert real.json["undo"] == f"imagen-bridge undo {merge_id}"
    merged = (shoot / "IMG_1.xmp").read_text()
    assert "Hochzeit" in merged and 'xmp:Rating="4"' in merged and "Exposure2012" in merged
    assert (shoot / "Jörg 2.xmp").exists()

    listed = await guarded.call("GET", "/v1/merges")
    (entry,) = listed.json["merges"]
    assert (entry["merge_id"], entry["created"], entry["updated"], entry["state"]) == (
        merge_id, 1, 1, "applied"
    )  # fmt: skip
    assert entry["into"] == str(shoot)

    undone = await guarded.call("POST", "/v1/undo", json_body={"merge_id": merge_id})
    assert undone.status == 200
    assert undone.json["complete"] is True
    assert sorted(i["outcome"] for i in undone.json["items"]) == ["removed", "restored"]
    assert _files(shoot) == before

    again = await guarded.call("POST", "/v1/undo", json_body={"merge_id": merge_id})
    assert again.status == 409 and again.error_code == "conflict"
    assert "already undone" in again.json["error"]["message"]
    last = await guarded.call("POST", "/v1/undo", json_body={"last": True})
    assert last.status == 409


async def test_the_same_json_as_the_cli(guarded: Live, tmp_path: Path) -> None:
    shoot, incoming = _shoot(tmp_path)
    runner = CliRunner()
    cli_dry = runner.invoke(cli, ["merge", str(incoming), "--into", str(shoot), "--dry-run",
                                  "--json"])  # fmt: skip
    http_dry = await guarded.call(
        "POST", "/v1/merge", json_body={"sources": [str(incoming)], "into": str(shoot),
                                        "dry_run": True},
    )  # fmt: skip
    assert http_dry.json == json.loads(cli_dry.stdout)

    http = await guarded.call(
        "POST", "/v1/merge", json_body={"sources": [str(incoming)], "into": str(shoot)}
    )
    (shoot / "IMG_1.xmp").write_bytes(OWN_SIDECAR)  # as it was, so the CLI merges the same
    (shoot / "Jörg 2.xmp").unlink()
    done = runner.invoke(cli, ["merge", str(incoming), "--into", str(shoot), "--json"])
    assert _without_times(http.json) == _without_times(json.loads(done.stdout))

    cli_list = json.loads(runner.invoke(cli, ["undo", "--list", "--json"]).stdout)
    assert cli_list.pop("ok") is True
    assert (await guarded.call("GET", "/v1/merges")).json == cli_list

    cli_undo = json.loads(runner.invoke(cli, ["undo", "--last", "--json"]).stdout)
    http_undo = await guarded.call(
        "POST", "/v1/undo", json_body={"merge_id": http.json["merge_id"]}
    )
    assert set(http_undo.json) == set(cli_undo) == {"ok", "merge_id", "complete", "items"}
    assert [set(i) for i in http_undo.json["items"]] == [set(i) for i in cli_undo["items"]]
    assert http_undo.json["complete"] is cli_undo["complete"] is http_undo.json["ok"] is True


async def test_bad_merge_paths_are_422_naming_the_field(guarded: Live, tmp_path: Path) -> None:
    shoot, incoming = _shoot(tmp_path)
    (tmp_path / "empty").mkdir()
    cases = [
        ({"sources": [str(incoming)], "into": str(shoot / "IMG_1.CR2")}, "into"),
        ({"sources": [str(incoming)], "into": str(tmp_path / "missing")}, "into"),
        ({"sources": [str(incoming), str(tmp_path / "nope.xmp")], "into": str(shoot)},
         "sources.1"),
        ({"sources": [str(tmp_path / "empty")], "into": str(shoot)}, "sources"),
        ({"sources": ["/" + "x" * 4000], "into": str(shoot)}, "sources.0"),
        ({"sources": ["/a\u0000b"], "into": str(shoot)}, "sources.0"),
    ]  # fmt: skip
    for body, path in cases:
        answer = await guarded.call("POST", "/v1/merge", json_body=body)
        assert answer.status == 422, (body, answer)
        assert path in {d["path"] for d in answer.json["error"]["details"]}, answer.json


async def test_sidecars_only_in_subfolders_are_pointed_to_in_the_apis_own_words(
    guarded: Live, tmp_path: Path
) -> None:
    shoot, incoming = _shoot(tmp_path)
    outer = tmp_path / "job"
    outer.mkdir()
    incoming.rename(outer / "project-1")  # as an edit that used several projects leaves it
    body = {"sources": [str(outer)], "into": str(shoot)}
    answer = await guarded.call("POST", "/v1/merge", json_body=body)
    assert answer.status == 422, answer
    message = answer.json["error"]["message"] + str(answer.json["error"]["details"])
    assert 'set "recursive": true to merge those' in message
    assert "--recursive" not in message  # a flag of the command line, not of this API
    merged = await guarded.call("POST", "/v1/merge", json_body={**body, "recursive": True})
    assert merged.status == 200, merged.json


async def test_undo_of_unknown_merges_is_404(guarded: Live) -> None:
    for body in ({"last": True}, {"merge_id": "20261201-221603-123456-ab12"},
                 {"merge_id": "../../etc"}):  # fmt: skip
        answer = await guarded.call("POST", "/v1/undo", json_body=body)
        assert answer.status == 404, body
        assert answer.error_code == "not_found"


async def test_the_server_answers_while_a_merge_runs(guarded: Live, tmp_path: Path) -> None:
    shoot, incoming = tmp_path / "shoot", tmp_path / "in"
    names = [f"IMG_{n:04}.CR2" for n in range(300)]
    touch(shoot, *names)
    incoming.mkdir()
    for name in names:
        (incoming / name.replace(".CR2", ".xmp")).write_bytes(incoming_xmp(name))
    merging = asyncio.ensure_future(
        guarded.call("POST", "/v1/merge", json_body={"sources": [str(incoming)],
                                                     "into": str(shoot)})
    )  # fmt: skip
    answered_meanwhile = 0
    while not merging.done():
        assert (await guarded.call("GET", "/v1/health")).status == 200
        answered_meanwhile += 1
    assert (await merging).json["counts"]["created"] == 300
    assert answered_meanwhile > 1
