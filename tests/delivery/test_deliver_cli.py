"""``imagen-bridge deliver`` as a real process against an emulator over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.emulator.app import RunningEmulator
from tests.emulator_delivery.support import IMAGEKIT_KEY, IMGWIRE_KEY, records


async def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bridge.cli import main; main()", "deliver", *args,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def to(emulator: RunningEmulator) -> dict[str, str]:
    return {
        "IMGWIRE_API_KEY": IMGWIRE_KEY,
        "IMAGEN_BRIDGE_IMGWIRE_BASE_URL": emulator.imgwire_url,
        "IMAGEKIT_PRIVATE_KEY": IMAGEKIT_KEY,
        "IMAGEN_BRIDGE_IMAGEKIT_BASE_URL": emulator.imagekit_url,
    }


async def test_delivers_to_both_with_json(
    delivery_emulator: RunningEmulator, exports: list[Path]
) -> None:
    files = [str(p) for p in exports[:4]]
    code, out, err = await run([*files, "--to", "imgwire", "--json"], to(delivery_emulator))
    assert code == 0, err
    payload = json.loads(out)
    assert [r["status"] for r in payload["results"]] == ["READY"] * 4
    code, out, err = await run(
        [
            *files,
            "--to",
            "imagekit",
            "--folder",
            "/Hochzeit Müller",
            "--tags",
            "wedding,2026",
            "--json",
        ],
        to(delivery_emulator),
    )
    assert code == 0, err
    results = json.loads(out)["results"]
    assert all(r["remote_path"].startswith("/Hochzeit_Müller/") for r in results)
    assert "ImageKit rules: folder" in err and "becomes" in err  # the changes were said first
    assert "[4/4]" in err  # progress
    assert IMAGEKIT_KEY not in out + err and IMGWIRE_KEY not in out + err


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--to", "imagekit", "--tags", "50%"], "'%'"),
        (["--to", "imagekit", "--tags", ",".join(["t" * 50] * 11)], "500"),
        (["--to", "imagekit", "--folder", "/".join(["d"] * 51)], "51 levels"),
        (["--to", "imgwire", "--folder", "/x"], "Imgwire has no folders"),
        (["--to", "flickr"], "imgwire or imagekit"),
    ],
)
async def test_bad_options_stop_before_any_upload(
    delivery_emulator: RunningEmulator, exports: list[Path], extra: list[str], words: str
) -> None:
    code, _, err = await run([str(exports[0]), *extra], to(delivery_emulator))
    assert code == 2 and words in err, err
    assert (await records(delivery_emulator, "imagekit"))["uploads"] == []
    assert (await records(delivery_emulator, "imgwire"))["images"] == []


async def test_bad_files_stop_before_any_upload(
    delivery_emulator: RunningEmulator, exports: list[Path], tmp_path: Path
) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (3 * 2**20))
    raw = tmp_path / "IMG_1.CR2"
    raw.write_bytes(b"raw")
    env = {**to(delivery_emulator), "IMAGEN_BRIDGE_IMAGEKIT_MAX_FILE_MB": "2"}
    code, _, err = await run([str(exports[0]), str(big), str(raw), "--to", "imagekit"], env)
    assert code == 2
    assert "over the plan's limit of 2 MB" in err and "IMG_1.CR2" in err
    code, _, err = await run([str(raw), "--to", "imgwire"], env)
    assert code == 2 and "does not take this file type" in err
    assert (await records(delivery_emulator, "imagekit"))["uploads"] == []
    assert (await records(delivery_emulator, "imgwire"))["images"] == []


async def test_missing_or_wrong_key(
    delivery_emulator: RunningEmulator, exports: list[Path]
) -> None:
    env: dict[str, Any] = {"IMAGEN_BRIDGE_IMAGEKIT_BASE_URL": delivery_emulator.imagekit_url}
    code, _, err = await run([str(exports[0]), "--to", "imagekit"], env)
    assert code == 2 and "No ImageKit key configured" in err
    env = {**to(delivery_emulator), "IMGWIRE_API_KEY": "sk_wrong_key"}
    code, _, err = await run([str(exports[0]), "--to", "imgwire"], env)
    assert code == 2 and "IMGWIRE_API_KEY environment variable" in err and "sk_wrong_key" not in err
    assert (await records(delivery_emulator, "imgwire"))["images"] == []


async def test_without_a_key_it_uses_the_embedded_emulator(exports: list[Path]) -> None:
    env = {"IMAGEN_EMULATOR_FAULT_PROCESSING_S": "0.05"}
    code, out, err = await run([str(exports[0]), "--to", "imgwire", "--json"], env)
    assert code == 0, err
    assert "built-in offline emulator" in err
    assert json.loads(out)["results"][0]["status"] == "READY"


async def test_a_jobs_exports_are_delivered_by_its_id_once(tmp_path: Path) -> None:
    """``edit --export`` then ``deliver JOB_ID``: each photo delivered, recorded in the job;
    a second ``deliver`` of the job finds them done and sends nothing again."""
    from tests.jobs.helpers import make_photos

    photos = make_photos(tmp_path / "shoot", ["DSC_1.NEF", "DSC_2.NEF"])
    env = {"IMAGEN_EMULATOR_FAULT_PROCESSING_S": "0.1"}
    edit = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bridge.cli import main; main()", "edit", *map(str, photos),
        "-p", "5700", "--export", "--json", "--out", str(tmp_path / "out"),
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await edit.communicate()
    assert edit.returncode == 0, err.decode()
    job_id = json.loads(out)["job_id"]
    assert (tmp_path / "shoot" / "Imagen Export" / "DSC_1.jpg").is_file()
    first = await run([job_id, "--to", "imgwire", "--json"], env)
    assert first[0] == 0, first[2]
    results = json.loads(first[1])["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, "READY"), (1, "READY")]
    again = await run([job_id, "--to", "imgwire", "--json"], env)
    assert again[0] == 0, again[2]
    assert json.loads(again[1])["results"] == results  # recorded, not sent again
    missing = await run(["j-20990101-000000-abcdef", "--to", "imgwire", "--json"], env)
    assert missing[0] == 2 and "No job" in json.loads(missing[1])["error"]["message"]
