"""Upload benchmark: this bridge vs the official imagen-ai-sdk 1.2.2 vs plain parallel curl.

One run, one emulator (a separate ``imagen-bridge emulator`` process, no faults), two cases:

- classic: 24 files of 48 MB into a profile project (bridge: the edit runner, stopped once
  every file is uploaded; SDK: ``upload_images``; curl: one PUT per file, 8 at a time, to
  links fetched beforehand);
- smart:   2 files of 600 MB into a Smart Editing project (bridge: multipart through the
  runner; SDK: ``upload_i2i_images``, multipart; curl: one PUT per file, both at once).

Each contender runs in its own process, in rotating order over ``--rounds`` rounds (the
median wall time and the largest peak RSS are reported), each after everything written so far
(the test files, the uploads before it) is synced to disk, so no contender pays for
another's writeback. Wall time covers the upload step only (project
creation and link requests included for the bridge and the SDK, as their users pay them;
excluded for curl, whose links are fetched first). Peak RSS: the Python drivers report their
own ``ru_maxrss``; curl's is the sum over its process tree, sampled every 10 ms.

Usage: ``.venv/bin/python bench/upload.py [--workdir DIR] [--small-count 24 --small-mb 48
--big-count 2 --big-mb 600 --rounds 3]``. It writes ~2.4 GB of test files and moves ~8 GB
over loopback per round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import psutil

KEY = "bench-key"
CURL_CONCURRENCY = 8
TOOLS = ("bridge", "bridge-md5", "sdk", "curl")
# With Content-MD5 (`edit --md5`): shows what hashing costs in the classic case.
# Smart Editing's big files go up in parts without MD5 anyway, so it is not run there.
CASE_TOOLS = {"classic": TOOLS, "smart": ("bridge", "sdk", "curl")}
BLOCK = 4 * 2**20


# ---- drivers (each runs in its own process) ------------------------------------------------


async def drive_bridge(
    base_url: str, smart: bool, paths: list[Path], *, send_md5: bool = False
) -> float:
    """The real edit runner, cancelled as soon as it moves on from uploading to editing."""
    from bridge.imagen import I2IEditOptions, ImagenClient
    from bridge.jobs.events import PhotoFinished, PhotoStatus, ProjectPhase, RunEvent
    from bridge.jobs.plan import plan_edit
    from bridge.jobs.runner import EditRequest, run_edit

    uploaded = asyncio.Event()
    failed: list[str] = []

    def on_event(event: RunEvent) -> None:
        if isinstance(event, PhotoFinished) and event.result.status is PhotoStatus.FAILED:
            failed.append(f"{event.result.photo.name}: {event.result.error}")
        if isinstance(event, ProjectPhase) and event.phase in ("edit", "failed"):
            uploaded.set()

    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    plan = plan_edit(paths)
    request = EditRequest(
        plan=plan,
        out_dir=out,
        profile_key=None if smart else 5700,
        send_md5=send_md5,
        i2i=I2IEditOptions() if smart else None,
    )
    async with ImagenClient(base_url, KEY) as client:
        start = time.perf_counter()
        task = asyncio.ensure_future(run_edit(client, request, on_event=on_event))
        await uploaded.wait()
        wall = time.perf_counter() - start
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    shutil.rmtree(out, ignore_errors=True)
    if failed:  # as for the SDK: a time is only worth reporting if every file went up
        raise SystemExit(f"bridge failed to upload {len(failed)} of {len(paths)} files: {failed}")
    return wall


async def drive_sdk(base_url: str, smart: bool, paths: list[Path]) -> float:
    from imagen_sdk import ImagenClient

    async with ImagenClient(KEY, base_url=base_url) as client:
        start = time.perf_counter()
        if smart:
            project = await client.create_i2i_project()
            summary = await client.upload_i2i_images(project, list(paths))
        else:
            project = await client.create_project()
            summary = await client.upload_images(project, list(paths))
        wall = time.perf_counter() - start
    if summary.successful != len(paths):
        raise SystemExit(f"SDK uploaded {summary.successful} of {len(paths)} files")
    return wall


def run_driver(tool: str, base_url: str, smart: bool, paths: list[Path]) -> None:
    if tool == "sdk":
        wall = asyncio.run(drive_sdk(base_url, smart, paths))
    else:
        wall = asyncio.run(drive_bridge(base_url, smart, paths, send_md5=tool == "bridge-md5"))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall": wall, "peak_rss": peak_kib * 1024}))


# ---- the orchestrator ----------------------------------------------------------------------


@dataclass
class Measurement:
    case: str
    tool: str
    wall: float
    peak_rss: int
    total_bytes: int

    @property
    def rate(self) -> float:
        return self.total_bytes / self.wall / 1e6


def make_files(folder: Path, names: list[str], size: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(BLOCK)
    paths = []
    for name in names:
        path = folder / name
        if not (path.exists() and path.stat().st_size == size):
            with path.open("wb") as handle:
                written = 0
                while written < size:
                    chunk = (name.encode() + block)[: min(BLOCK, size - written)]
                    handle.write(chunk)
                    written += len(chunk)
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(storage: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "imagen-bridge"), "emulator", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--storage-dir", str(storage)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/profiles", headers={"x-api-key": KEY}).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the emulator did not start")


def sample_peak_rss(process: psutil.Popen) -> int:
    """Sum of RSS over the process and its children, sampled until it exits."""
    peak = 0
    while process.poll() is None:
        total = 0
        try:
            for member in [process, *process.children(recursive=True)]:
                total += member.memory_info().rss
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.01)
    return peak


def measure_driver(case: str, tool: str, base_url: str, paths: list[Path]) -> Measurement:
    command = [sys.executable, __file__, "_driver", tool, base_url, case, *map(str, paths)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tool} driver failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    total = sum(p.stat().st_size for p in paths)
    return Measurement(case, tool, report["wall"], report["peak_rss"], total)


async def presigned_links(base_url: str, smart: bool, paths: list[Path]) -> list[str]:
    from bridge.imagen import ImagenClient

    files = [(p.name, None) for p in paths]
    async with ImagenClient(base_url, KEY) as client:
        if smart:
            uuid = await client.i2i_create_project()
            links = await client.i2i_upload_links(uuid, files)
        else:
            uuid = await client.create_project()
            links = await client.upload_links(uuid, files)
    by_name = {link.file_name: link.url for link in links}
    return [by_name[p.name] for p in paths]


def measure_curl(case: str, base_url: str, paths: list[Path], workdir: Path) -> Measurement:
    links = asyncio.run(presigned_links(base_url, case == "smart", paths))
    args = workdir / f"curl-{case}.args"
    args.write_bytes(b"".join(f"{p}\0{u}\0".encode() for p, u in zip(paths, links, strict=True)))
    script = 'exec curl -sS --fail -o /dev/null -X PUT -H "Content-Type:" -T "$0" "$1"'
    parallel = str(min(CURL_CONCURRENCY, len(paths)))
    start = time.perf_counter()
    xargs = ["xargs", "-0", "-P", parallel, "-n", "2", "-a", str(args)]
    process = psutil.Popen([*xargs, "sh", "-c", script])
    peak = sample_peak_rss(process)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"curl uploads failed (exit {process.returncode})")
    return Measurement(case, "curl", wall, peak, sum(p.stat().st_size for p in paths))


def summarise(runs: list[Measurement]) -> list[Measurement]:
    """Per case and tool: the median wall time and the largest peak RSS over the rounds."""
    out = []
    for case in ("classic", "smart"):
        for tool in TOOLS:
            mine = [m for m in runs if m.case == case and m.tool == tool]
            if mine:
                wall = statistics.median(m.wall for m in mine)
                peak = max(m.peak_rss for m in mine)
                out.append(Measurement(case, tool, wall, peak, mine[0].total_bytes))
    return out


def report(results: list[Measurement], note: str) -> str:
    lines = [
        note,
        "",
        "| case | tool | wall (s) | MB/s | peak RSS (MB) | wall vs SDK | wall vs curl |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in ("classic", "smart"):
        rows = {m.tool: m for m in results if m.case == case}
        for tool in TOOLS:
            m = rows.get(tool)
            if m is None:
                continue
            vs_sdk = f"{m.wall / rows['sdk'].wall:.2f}x" if "sdk" in rows else "-"
            vs_curl = f"{m.wall / rows['curl'].wall:.2f}x" if "curl" in rows else "-"
            lines.append(
                f"| {case} | {tool} | {m.wall:.2f} | {m.rate:.0f} | {m.peak_rss / 1e6:.0f} "
                f"| {vs_sdk} | {vs_curl} |"
            )
    return "\n".join(lines)


def targets(results: list[Measurement]) -> list[str]:
    verdicts = []
    for case in ("classic", "smart"):
        rows = {m.tool: m for m in results if m.case == case}
        bridge, sdk, curl = rows["bridge"], rows["sdk"], rows["curl"]
        checks = [
            (f"{case}: bridge peak RSS <= 150 MB", bridge.peak_rss <= 150e6),
            (f"{case}: bridge wall <= 0.8x SDK", bridge.wall <= 0.8 * sdk.wall),
            (f"{case}: bridge wall <= 1.25x curl", bridge.wall <= 1.25 * curl.wall),
        ]
        verdicts += [f"{'met   ' if ok else 'MISSED'} {what}" for what, ok in checks]
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--small-count", type=int, default=24)
    parser.add_argument("--small-mb", type=int, default=48)
    parser.add_argument("--big-count", type=int, default=2)
    parser.add_argument("--big-mb", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="bench-upload-"))
    mb = 10**6
    cases = {
        "classic": make_files(
            workdir / "classic",
            [f"IMG_{n:04d}.CR2" for n in range(1, options.small_count + 1)],
            options.small_mb * mb,
        ),
        "smart": make_files(
            workdir / "smart",
            [f"pano_{n}.jpg" for n in range(1, options.big_count + 1)],
            options.big_mb * mb,
        ),
    }
    storage = workdir / "emulator-storage"
    emulator, base_url = start_emulator(storage)
    os.sync()
    results: list[Measurement] = []
    try:
        for round_ in range(options.rounds):
            for case, paths in cases.items():
                mine = CASE_TOOLS[case]
                turn = round_ % len(mine)
                tools = mine[turn:] + mine[:turn]
                for tool in tools:
                    os.sync()  # the last contender's uploads are on disk, not in this one's time
                    if tool == "curl":
                        m = measure_curl(case, base_url, paths, workdir)
                    else:
                        m = measure_driver(case, tool, base_url, paths)
                    results.append(m)
                    print(f"round {round_ + 1} {case:8} {tool:7} {m.wall:6.2f} s", file=sys.stderr)
    finally:
        emulator.terminate()
        emulator.wait(30)
        shutil.rmtree(storage, ignore_errors=True)
    results = summarise(results)
    note = (
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} Linux, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; classic = {options.small_count} x "
        f"{options.small_mb} MB, smart = {options.big_count} x {options.big_mb} MB; "
        f"median of {options.rounds} rounds; emulator in a separate process on 127.0.0.1, "
        "no faults."
    )
    print(report(results, note))
    print()
    print("\n".join(targets(results)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_driver":
        tool, base, case, *files = sys.argv[2:]
        run_driver(tool, base, case == "smart", [Path(f) for f in files])
    else:
        main()
