"""Delivery benchmark: the bridge's clients vs the official SDKs, same uploads, same run.

50 JPEGs of 8 MB each (a real small JPEG padded to size, so Imgwire's emulator accepts them
as JPEGs) go to each emulator (``imagen-bridge emulator`` in its own process, processing
time 0, no faults):

- imgwire: the bridge (``deliver_all`` with ``ImgwireClient``: upload, PUT streamed from
  disk, followed to READY) vs the official ``imgwire`` 0.3.2 SDK (``images.upload`` then
  ``images.retrieve`` until READY, one file at a time, as it works);
- imagekit: the bridge (``ImagekitClient``: multipart streamed from disk) vs the official
  ``imagekitio`` SDK (``files.upload`` with the file's path, one at a time).

Each contender runs in its own process (rotating order over ``--rounds``); wall time covers
the uploads only; peak RSS is the process's own high-water mark (``VmHWM``). Targets for the bridge:
faster than the SDK and peak RSS under 150 MB.

Usage: ``.venv/bin/python bench/deliver.py [--count 50 --mb 8 --rounds 1 --concurrency 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

IMGWIRE_KEY = "sk_bench"
IMAGEKIT_KEY = "private_bench"
TARGETS = ("imgwire", "imagekit")
TOOLS = ("bridge", "sdk")
RSS_TARGET_MB = 150


# ---- drivers (each runs in its own process) ------------------------------------------------


async def drive_bridge(
    target: str, base: str, paths: list[Path], concurrency: int, run: str
) -> float:
    from bridge.delivery import (
        DeliveryItem,
        ImagekitClient,
        ImagekitOptions,
        ImgwireClient,
        deliver_all,
    )

    items = [DeliveryItem(p, job_id=run, photo=i) for i, p in enumerate(paths)]
    client: ImgwireClient | ImagekitClient
    if target == "imgwire":
        client = ImgwireClient(base, IMGWIRE_KEY, concurrency=concurrency)
    else:
        options = ImagekitOptions(folder=f"/{run}", max_file_mb=100)
        client = ImagekitClient(
            IMAGEKIT_KEY, base_url=base, options=options, concurrency=concurrency
        )
    async with client:
        start = time.perf_counter()
        results = await deliver_all(client, items, concurrency=concurrency)
        wall = time.perf_counter() - start
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise SystemExit(f"bridge failed {len(failed)} of {len(paths)}: {failed[:3]}")
    return wall


def drive_sdk(target: str, base: str, paths: list[Path], run: str) -> float:
    if target == "imgwire":
        from imgwire import ImgwireClient

        client = ImgwireClient(IMGWIRE_KEY, base_url=base)
        start = time.perf_counter()
        for index, path in enumerate(paths):
            image = client.images.upload(str(path), idempotency_key=f"{run}-{index}")
            while image.status not in ("READY", "QUARANTINE"):
                image = client.images.retrieve(image.id)
            if image.status != "READY":
                raise SystemExit(f"SDK: {path.name} ended {image.status}")
        return time.perf_counter() - start
    from imagekitio import ImageKit

    kit = ImageKit(private_key=IMAGEKIT_KEY, base_url=base)
    start = time.perf_counter()
    for path in paths:
        kit.files.upload(
            file=path, file_name=path.name, folder=f"/{run}", use_unique_file_name=False
        )
    return time.perf_counter() - start


def run_driver(
    tool: str, target: str, base: str, concurrency: int, run: str, paths: list[Path]
) -> None:
    if tool == "bridge":
        wall = asyncio.run(drive_bridge(target, base, paths, concurrency, run))
    else:
        wall = drive_sdk(target, base, paths, run)
    print(json.dumps({"wall": wall, "peak_rss": peak_rss()}))


def peak_rss() -> int:
    """This process's own peak RSS: Linux's VmHWM, else ``ru_maxrss``.

    ``ru_maxrss`` also counts the parent's RSS at spawn time, which Linux carries over exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---- the orchestrator ----------------------------------------------------------------------


@dataclass
class Measurement:
    target: str
    tool: str
    wall: float
    peak_rss: int
    total_bytes: int

    @property
    def rate(self) -> float:
        return self.total_bytes / self.wall / 1e6


def make_files(folder: Path, count: int, size: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"Export {index:03d}.jpg"
        if not (path.exists() and path.stat().st_size == size):
            out = io.BytesIO()
            Image.new("RGB", (64, 48), (index % 256, 90, 160)).save(out, format="JPEG")
            head = out.getvalue()
            with path.open("wb") as handle:
                handle.write(head)
                remaining = size - len(head)
                while remaining > 0:
                    chunk = os.urandom(min(2**20, remaining))
                    handle.write(chunk)
                    remaining -= len(chunk)
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(storage: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "imagen-bridge"),
        "emulator",
        "--port", str(port),
        "--storage-dir", str(storage),
        "--processing-time", "0",
        "--imgwire-key", IMGWIRE_KEY,
        "--imagekit-key", IMAGEKIT_KEY,
        "--imagekit-max-file-size", str(100 * 2**20),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            auth = {"Authorization": f"Bearer {IMGWIRE_KEY}"}
            if httpx.get(f"{origin}/imgwire/api/v1/images/", headers=auth).status_code == 200:
                return process, origin
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the emulator did not start")


def measure(
    tool: str, target: str, origin: str, concurrency: int, run: str, paths: list[Path]
) -> Measurement:
    """One contender in its own process; ``run`` makes its uploads new to the emulator."""
    base = f"{origin}/{target}"
    command = [
        sys.executable,
        __file__,
        "_driver",
        tool,
        target,
        base,
        str(concurrency),
        run,
        *map(str, paths),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tool} {target} driver failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    total = sum(p.stat().st_size for p in paths)
    return Measurement(target, tool, report["wall"], report["peak_rss"], total)


def summarise(runs: list[Measurement]) -> list[Measurement]:
    out = []
    for target in TARGETS:
        for tool in TOOLS:
            mine = [m for m in runs if m.target == target and m.tool == tool]
            if mine:
                wall = statistics.median(m.wall for m in mine)
                out.append(
                    Measurement(
                        target, tool, wall, max(m.peak_rss for m in mine), mine[0].total_bytes
                    )
                )
    return out


def report(results: list[Measurement]) -> list[str]:
    lines = [
        "| target | tool | wall (s) | MB/s | peak RSS (MB) | wall vs SDK |",
        "|---|---|---:|---:|---:|---:|",
    ]
    verdicts = []
    for target in TARGETS:
        sdk = next(m for m in results if m.target == target and m.tool == "sdk")
        for m in (r for r in results if r.target == target):
            lines.append(
                f"| {target} | {m.tool} | {m.wall:.2f} | {m.rate:.0f} | {m.peak_rss / 2**20:.0f} "
                f"| {m.wall / sdk.wall:.2f}x |"
            )
        bridge = next(m for m in results if m.target == target and m.tool == "bridge")
        faster = bridge.wall < sdk.wall
        lean = bridge.peak_rss / 2**20 < RSS_TARGET_MB
        verdicts.append(
            f"{target}: bridge {bridge.wall / sdk.wall:.2f}x the SDK's wall time "
            f"({'met' if faster else 'NOT met'}: faster than the SDK); peak RSS "
            f"{bridge.peak_rss / 2**20:.0f} MB vs the SDK's {sdk.peak_rss / 2**20:.0f} MB "
            f"({bridge.peak_rss / sdk.peak_rss:.2f}x; {'met' if lean else 'NOT met'}: under "
            f"{RSS_TARGET_MB} MB)"
        )
    return [*lines, "", *verdicts]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--mb", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="bench-deliver-"))
    paths = make_files(workdir / "exports", options.count, options.mb * 10**6)
    storage = workdir / "emulator-storage"
    emulator, origin = start_emulator(storage)
    os.sync()
    runs: list[Measurement] = []
    try:
        for round_ in range(options.rounds):
            for target in TARGETS:
                order = TOOLS[round_ % 2 :] + TOOLS[: round_ % 2]
                for tool in order:
                    run = f"bench-{round_ + 1}-{tool}"
                    m = measure(tool, target, origin, options.concurrency, run, paths)
                    runs.append(m)
                    print(
                        f"round {round_ + 1} {target:8} {tool:6} {m.wall:6.2f} s", file=sys.stderr
                    )
    finally:
        emulator.terminate()
        emulator.wait(30)
        shutil.rmtree(storage, ignore_errors=True)
    print(
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} Linux, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {options.count} x {options.mb} MB per contender; "
        f"bridge concurrency {options.concurrency}; median of {options.rounds} round(s); "
        "emulator in its own process on 127.0.0.1, processing time 0, no faults."
    )
    print("\n".join(report(summarise(runs))))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_driver":
        tool, target, base, concurrency, run, *files = sys.argv[2:]
        run_driver(tool, target, base, int(concurrency), run, [Path(f) for f in files])
    else:
        main()
