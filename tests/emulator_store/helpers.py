"""Small helpers shared by the store tests: S3 error parsing, curl, raw sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xmltodict


def s3_error(body: bytes) -> tuple[str, str]:
    """(Code, Message) of an S3 XML error body; fails the test if the body is not one."""
    error = xmltodict.parse(body)["Error"]
    assert error["RequestId"]
    return error["Code"], error["Message"]


@dataclass
class CurlResult:
    returncode: int
    status: int
    body: bytes


async def curl(*args: str, stdin: bytes | None = None, tmp_path: Path) -> CurlResult:
    """Run curl without blocking the event loop the server runs on."""
    out = tmp_path / "curl-body"
    out.unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        "curl",
        "-s",
        "--max-time",
        "30",
        "-o",
        str(out),
        "-w",
        "%{http_code}",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    status, _ = await process.communicate(stdin)
    body = out.read_bytes() if out.exists() else b""
    return CurlResult(process.returncode or 0, int(status or b"0"), body)


async def raw_exchange(origin: str, data: bytes, *, close_after_send: bool = False) -> bytes:
    """Send raw bytes over one TCP connection; return all the server answered."""
    host, port = origin.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    if close_after_send:
        writer.close()
        await writer.wait_closed()
        return b""
    answer = await asyncio.wait_for(reader.read(65536), timeout=15)
    writer.close()
    return answer


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition()`` until true; the server finishes a dropped request asynchronously."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)
