"""A merge's memory does not grow with the number of files: the real command, two sizes.

Each merge runs as its own ``imagen-bridge merge --json`` process (worker processes and the
streamed JSON included) and its peak resident set size is read from the kernel (``wait4``).
Holding a result, a plan item or a Path per file costs kilobytes each (before results were
streamed, about 11 KB: +22 MB over the 2,000 extra files here); the bound allows 3 KB, so
fixed costs that only look per-file at these sizes (SQLite's page cache filling up to its
cap) never fail it. Measured here: about 1.2 KB per extra file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.xmp_files.helpers import incoming_xmp, photographer_sidecar

SMALL, LARGE = 300, 2_300  # both above PROCESS_THRESHOLD: merged the same way
PER_FILE_BOUND = 3_000  # bytes of peak memory per extra file


def _peak_rss(shoot: Path, incoming: Path, data_dir: Path) -> int:
    command = Path(sys.executable).with_name("imagen-bridge")
    env = {**os.environ, "IMAGEN_BRIDGE_DATA_DIR": str(data_dir)}
    out = data_dir.parent / f"{shoot.name}.json"
    with out.open("wb") as stdout:
        child = subprocess.Popen(
            [str(command), "merge", str(incoming), "--into", str(shoot), "--json"],
            stdout=stdout, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(out.read_bytes())
    assert report["counts"]["updated"] == len(report["items"]) == len(list(incoming.iterdir()))
    return usage.ru_maxrss * 1024  # KiB on Linux


def _shoot(root: Path, count: int, photographer: bytes) -> tuple[Path, Path]:
    shoot, incoming = root / f"shoot-{count}", root / f"incoming-{count}"
    shoot.mkdir()
    incoming.mkdir()
    for n in range(count):
        (shoot / f"DSC_{n:05d}.NEF").write_bytes(b"raw")
        (shoot / f"DSC_{n:05d}.xmp").write_bytes(photographer)
        (incoming / f"DSC_{n:05d}.xmp").write_bytes(incoming_xmp(f"DSC_{n:05d}.NEF"))
    return shoot, incoming


@pytest.mark.skipif(not hasattr(os, "wait4") or sys.platform != "linux", reason="Linux wait4")
def test_merge_memory_is_flat_in_the_number_of_files(tmp_path: Path, shared_dir: Path) -> None:
    photographer = photographer_sidecar(shared_dir)
    peaks = {
        count: _peak_rss(*_shoot(tmp_path, count, photographer), tmp_path / f"data-{count}")
        for count in (SMALL, LARGE)
    }
    growth = peaks[LARGE] - peaks[SMALL]
    assert growth < (LARGE - SMALL) * PER_FILE_BOUND, (
        f"{SMALL} files: {peaks[SMALL] / 2**20:.1f} MB, {LARGE} files: "
        f"{peaks[LARGE] / 2**20:.1f} MB ({growth / (LARGE - SMALL):.0f} bytes per extra file)"
    )
