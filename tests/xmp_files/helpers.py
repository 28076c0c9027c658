"""Shared helpers for the sidecar-file tests: real folders, real files, a read-only folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def touch(folder: Path, *names: str, data: bytes = b"raw") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        path.write_bytes(data)
    return paths


def leftovers(folder: Path) -> list[str]:
    """Temp files publish might have left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".imagen-bridge-"))


@contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new files for real: mode 0555, or ``chattr +i`` when we are root
    (root ignores permission bits)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {done.stderr.decode(errors='replace')}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
