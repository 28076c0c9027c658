"""A 512 MiB file delivered to both emulators: the emulator process and the bridge's client
process stay small (bounded, not timed), because bodies are streamed, never held whole."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.emulator_delivery.support import IMAGEKIT_KEY, IMGWIRE_KEY, basic, jpeg_bytes
from tests.emulator_store.test_memory import PeakRss

SIZE = 512 * 2**20
EMULATOR_GROWTH = 100 * 2**20
CLIENT_PEAK = 150 * 2**20

CLIENT = """
import asyncio, json, logging, resource, sys
from pathlib import Path
from bridge.delivery import DeliveryItem, ImagekitClient, ImagekitOptions, ImgwireClient
from bridge.delivery import deliver_all

logging.basicConfig(level=logging.WARNING)  # retries on stderr: what happened if it grew
peaks = {}

def peak():
    # VmHWM is this process's own high-water mark; ru_maxrss would also count the RSS of
    # the (large) pytest process this one was spawned from, which Linux carries over exec.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

async def main(origin, path):
    item = [DeliveryItem(Path(path), job_id="memory", photo=1)]
    peaks["start"] = peak()
    async with ImgwireClient(origin + "/imgwire", sys.argv[3]) as client:
        imgwire = await deliver_all(client, item)
    peaks["imgwire"] = peak()
    options = ImagekitOptions(max_file_mb=1024)
    kit = ImagekitClient(sys.argv[4], base_url=origin + "/imagekit", options=options)
    async with kit:
        imagekit = await deliver_all(kit, item)
    peaks["imagekit"] = peak()
    return [r.status for r in imgwire + imagekit]

statuses = asyncio.run(main(sys.argv[1], sys.argv[2]))
print(json.dumps({"statuses": statuses, "peak": peak(), "phases": peaks}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[int, str]]:
    port = _free_port()
    command = [
        sys.executable, "-c", "from bridge.cli import main; main()", "emulator",
        "--port", str(port), "--processing-time", "0", "--storage-dir", str(tmp_path / "store"),
        "--imgwire-key", IMGWIRE_KEY, "--imagekit-key", IMAGEKIT_KEY,
        "--imagekit-max-file-size", str(2 * SIZE),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    origin = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                auth = {"Authorization": f"Bearer {IMGWIRE_KEY}"}
                if httpx.get(f"{origin}/imgwire/api/v1/images/", headers=auth).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the emulator did not start")
        yield process.pid, origin
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_half_a_gigabyte_to_both_keeps_memory_flat(
    emulator_process: tuple[int, str], tmp_path: Path
) -> None:
    pid, origin = emulator_process
    photo = tmp_path / "Panorama groß.jpg"
    with photo.open("wb") as handle:
        handle.write(jpeg_bytes(1, (64, 48)))
        handle.truncate(SIZE)  # sparse: nothing of it needs to sit in memory anywhere
    with PeakRss(pid) as emulator:
        baseline = emulator.peak
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, origin, str(photo), IMGWIRE_KEY, IMAGEKIT_KEY],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"] == ["READY", "stored"]
    phases = {name: f"{value / 2**20:.0f} MiB" for name, value in report["phases"].items()}
    assert report["peak"] < CLIENT_PEAK, f"client peak RSS after {phases}; {done.stderr[-2000:]}"
    growth = emulator.peak - baseline
    assert growth < EMULATOR_GROWTH, f"emulator grew by {growth / 2**20:.0f} MiB"
    held = httpx.get(
        f"{origin}/imagekit/_emulator/records", headers={"Authorization": basic(IMAGEKIT_KEY)}
    )
    assert [f["size"] for f in held.json()["files"]] == [SIZE]
