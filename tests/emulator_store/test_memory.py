"""A 2 GB upload and download keep the store process's memory flat (bounded, not timed).

The store runs in a subprocess (``store_runner.py``) whose resident memory is sampled while
curl streams a 2 GiB sparse file to it and reads it back.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

RUNNER = Path(__file__).with_name("store_runner.py")
SIZE = 2 * 2**30
ALLOWED_GROWTH = 100 * 2**20


class PeakRss:
    """Samples a process's resident memory in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_curl(*args: str) -> str:
    done = subprocess.run(
        ["curl", "-sS", "--fail", "--max-time", "600", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def store_process(tmp_path: Path) -> Iterator[dict[str, str]]:
    root = tmp_path / "root"
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), str(root), "big/2 GB photo.tif"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)  # do not leave 2 GB in pytest's kept tmp dirs


@pytest.mark.slow
def test_two_gigabytes_up_and_down_keep_memory_flat(
    store_process: dict[str, str], tmp_path: Path
) -> None:
    pid = int(store_process["pid"])
    warm = tmp_path / "warm"
    warm.write_bytes(b"w" * (8 * 2**20))
    big = tmp_path / "big.tif"
    with big.open("wb") as sparse:
        sparse.truncate(SIZE)  # 2 GiB of zeros that take no disk space
    try:
        # Warm up every code path once, so the baseline includes what a first request loads.
        run_curl("-H", "Content-Type;", "-T", str(warm), store_process["warmup_put"])
        run_curl("-o", "/dev/null", store_process["warmup_get"])
        baseline = psutil.Process(pid).memory_info().rss

        with PeakRss(pid) as upload:
            headers = run_curl(
                "-H",
                "Content-Type;",
                "-T",
                str(big),
                "-D",
                "-",
                "-o",
                "/dev/null",
                store_process["put"],
            )
        with PeakRss(pid) as download:
            written = run_curl("-o", "/dev/null", "-w", "%{size_download}", store_process["get"])
    finally:
        big.unlink()

    zeros = hashlib.md5()
    block = bytes(2**20)
    for _ in range(SIZE // len(block)):
        zeros.update(block)
    assert f'etag: "{zeros.hexdigest()}"' in headers.lower()
    assert int(written) == SIZE

    growth_up = upload.peak - baseline
    growth_down = download.peak - baseline
    print(
        f"\nstore RSS baseline {baseline / 2**20:.1f} MiB; peak growth during a 2 GiB upload "
        f"{growth_up / 2**20:.1f} MiB, during the download {growth_down / 2**20:.1f} MiB"
    )
    assert growth_up < ALLOWED_GROWTH
    assert growth_down < ALLOWED_GROWTH
