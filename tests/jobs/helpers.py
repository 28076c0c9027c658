"""Sample photos and a one-call runner for the edit-flow tests (real files, real emulator)."""

from __future__ import annotations

import hashlib
import logging
import shutil
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bridge.emulator.app import RunningEmulator
from bridge.imagen import EditOptions, I2IEditOptions, ImagenClient
from bridge.jobs.events import EventSink, RunResult
from bridge.jobs.plan import Expectation, plan_edit
from bridge.jobs.runner import EditRequest, run_edit
from bridge.transfer import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=10, base_delay=0.05, max_delay=0.5)


def raw_bytes(seed: str, size: int = 50_000) -> bytes:
    """Distinct, deterministic stand-in RAW content."""
    label = seed.encode("utf-8", "surrogateescape")  # seeds are paths, any bytes allowed
    block = hashlib.sha256(label).digest()
    return (b"SYNTHETIC RAW " + label + b"\n" + block * (size // 32 + 1))[:size]


def jpeg_bytes(seed: str, size: int = 20_000) -> bytes:
    """A JPEG whose header segments parse (SOI, APP0 JFIF, SOS), with filler scan data."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sos = b"\x01\x01\x00\x00\x3f\x00"
    head = (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", len(app0) + 2)
        + app0
        + b"\xff\xda"
        + struct.pack(">H", len(sos) + 2)
        + sos
    )
    body = raw_bytes(seed, max(0, size - len(head) - 2)).replace(b"\xff", b"\x00")
    return head + body + b"\xff\xd9"


def make_photos(folder: Path, names: Sequence[str], size: int = 50_000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        is_jpeg = path.suffix.lower() in (".jpg", ".jpeg")
        seed = str(path)
        path.write_bytes(jpeg_bytes(seed, size) if is_jpeg else raw_bytes(seed, size))
        paths.append(path)
    return paths


async def edit(
    emulator: RunningEmulator,
    paths: Sequence[Path],
    out: Path,
    *,
    profile_key: int | None = 5700,
    options: EditOptions | None = None,
    i2i: I2IEditOptions | None = None,
    export: bool = False,
    expect: Expectation | None = None,
    keep_folders_together: bool = False,
    on_event: EventSink | None = None,
    logger: logging.Logger | None = None,
    api_key: str = "test-key",
    send_md5: bool = False,
) -> RunResult:
    plan = plan_edit(paths, expect=expect, keep_folders_together=keep_folders_together)
    request = EditRequest(
        plan=plan,
        out_dir=out,
        profile_key=None if i2i else profile_key,
        options=options or EditOptions(),
        i2i=i2i,
        export=export,
        send_md5=send_md5,
        edit_timeout_s=120,
    )
    async with ImagenClient(emulator.base_url, api_key, retry_policy=FAST_RETRY) as client:
        return await run_edit(client, request, on_event=on_event, retry=FAST_RETRY, logger=logger)


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by relative POSIX path (hidden temp files included)."""
    if not folder.exists():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def disk_with(monkeypatch: pytest.MonkeyPatch, under: Path, free: int) -> None:
    """The disk holding ``under`` reports ``free`` bytes free (others report the truth)."""
    real = shutil.disk_usage

    def usage(path: Any) -> Any:
        found = real(path)
        if Path(path).is_relative_to(under):
            return type(found)(found.total, found.total - free, free)
        return found

    monkeypatch.setattr(shutil, "disk_usage", usage)
