"""The emulator's access log: one line per request that reached it, signatures left out."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bridge.emulator.accesslog import logged_target
from bridge.emulator.faults import FaultConfig
from bridge.emulator.signing import AUTH_PARAMS
from tests.conftest import EmulatorFactory
from tests.emulator.support import api, new_project, put, unwrap


def _lines(path: Path) -> list[list[str]]:
    return [line.split(" ") for line in path.read_text(encoding="ascii").splitlines()]


async def test_each_request_is_one_line_with_status_and_bytes(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    emulator = await emulator_factory(access_log=log)
    files = {"Hochzeit Müller 1.CR2": b"x" * 1000, "婚礼 🌅.NEF": b"y" * 7}
    async with api(emulator) as client:
        assert (await client.get("/profiles")).status_code == 200
        assert (await client.get("/profiles", headers={"x-api-key": ""})).status_code == 401
        uuid = await new_project(client, files)
    lines = _lines(log)
    assert [len(fields) for fields in lines] == [4] * len(lines)
    assert lines[0] == ["GET", "/v1/profiles", "200", "0"]
    assert lines[1] == ["GET", "/v1/profiles", "401", "0"]
    assert lines[2][:3] == ["POST", "/v1/projects/", "200"]
    puts = [fields for fields in lines if fields[0] == "PUT"]
    assert len(puts) == 2  # each upload reached the store exactly once
    sizes = {urlsplit(fields[1]).path.rsplit("/", 1)[-1]: int(fields[3]) for fields in puts}
    assert sorted(sizes.values()) == [7, 1000]
    for fields in puts:
        assert fields[2] == "200"
        assert "X-Amz-" not in fields[1]  # the signature is not logged
        assert "%" in fields[1]  # names percent-encoded as sent, never raw spaces or UTF-8
    assert uuid in log.read_text()


async def test_multipart_parts_keep_their_part_number(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    emulator = await emulator_factory(access_log=log)
    async with api(emulator) as client:
        uuid = await new_project(client, {}, family="i2i")
        created = unwrap(
            (
                await client.post(
                    f"/i2i/projects/{uuid}/multipart_uploads",
                    json={"file_name": "big.jpg", "part_count": 2},
                )
            ).json()
        )
        for part in created["parts"]:
            await put(part["upload_url"], b"part %d" % part["part_number"])
    puts = [fields for fields in _lines(log) if fields[0] == "PUT"]
    numbers = [urlsplit(fields[1]).query for fields in puts]
    assert [q.split("&")[0] for q in sorted(numbers)] == ["partNumber=1", "partNumber=2"]
    assert all(f"uploadId={created['upload_id']}" in q for q in numbers)
    assert all(fields[3] == "6" for fields in puts)


async def test_injected_faults_and_dropped_connections_are_logged(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    emulator = await emulator_factory(access_log=log, faults=FaultConfig(drop_upload_rate=1.0))
    async with api(emulator) as client:
        with pytest.raises(httpx.HTTPError):
            await new_project(client, {"a.CR2": b"z" * 200_000})
    put_line = next(fields for fields in _lines(log) if fields[0] == "PUT")
    assert put_line[2] == "-"  # no answer was sent: the connection was cut
    assert 0 < int(put_line[3]) <= 200_000

    limited = tmp_path / "limited.log"
    emulator = await emulator_factory(access_log=limited, faults=FaultConfig(rate_503=1.0))
    async with api(emulator) as client:
        assert (await client.get("/profiles")).status_code == 503
    assert _lines(limited) == [["GET", "/v1/profiles", "503", "0"]]


async def test_a_put_refused_before_its_body_is_logged_too(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """``Expect: 100-continue`` with a bad signature: aiohttp answers before any middleware."""
    log = tmp_path / "access.log"
    emulator = await emulator_factory(access_log=log)
    async with api(emulator) as client:
        uuid = unwrap((await client.post("/projects/", json={})).json())["project_uuid"]
        links = await client.post(
            f"/projects/{uuid}/get_temporary_upload_links",
            json={"files_list": [{"file_name": "a.CR2"}]},
        )
    link = urlsplit(unwrap(links.json())["files_list"][0]["upload_link"])
    tampered = link.query.replace("X-Amz-Signature=", "X-Amz-Signature=00")
    reader, writer = await asyncio.open_connection(link.hostname, link.port)
    writer.write(
        f"PUT {link.path}?{tampered} HTTP/1.1\r\nHost: {link.netloc}\r\n"
        "Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"403"
    put_line = next(fields for fields in _lines(log) if fields[0] == "PUT")
    assert put_line[2:] == ["403", "0"]
    assert "X-Amz-Signature" not in put_line[1]


def test_logged_target_drops_only_signature_parameters() -> None:
    signed = "&".join(f"{name}=v{n}" for n, name in enumerate(AUTH_PARAMS))
    raw = f"/storage/b/IMG%201.CR2?partNumber=3&{signed}&uploadId=u%2F1"
    assert logged_target(raw) == "/storage/b/IMG%201.CR2?partNumber=3&uploadId=u%2F1"
    assert logged_target(f"/storage/b/k?{signed}") == "/storage/b/k"
    assert logged_target("/x/Café ü") == "/x/Caf%C3%A9%20%C3%BC"
    assert logged_target("/v1/profiles") == "/v1/profiles"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_the_standalone_emulator_stops_cleanly_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Its temp storage is removed (as the README says) and the access log names the port."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    log = tmp_path / "access.log"
    command = [sys.executable, "-c", "from bridge.cli import main; main()", "emulator",
               "--port", "0", "--access-log", str(log)]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(temp)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)  # fmt: skip
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().split()[-1]
        with httpx.Client(base_url=base_url, headers={"x-api-key": "k"}) as client:
            projects = client.post("/projects/", json={})
            uuid = projects.json()["project_uuid"]
            links = client.post(
                f"/projects/{uuid}/get_temporary_upload_links",
                json={"files_list": [{"file_name": "a.CR2"}]},
            ).json()["files_list"]
            upload = httpx.put(
                links[0]["upload_link"], content=b"raw", headers={"Content-Type": ""}
            )
            assert upload.status_code == 200
        assert [p.name for p in temp.iterdir()], "the emulator keeps its storage in TMPDIR"
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Emulator stopped." in out
    assert list(temp.iterdir()) == []
    assert [fields[0] for fields in _lines(log)] == ["POST", "POST", "PUT"]
