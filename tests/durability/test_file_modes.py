"""Files the bridge creates get ordinary permissions: ``0o666`` less the umask, never executable.

Run under real umasks (the process's, set for the test), on downloads, new sidecars and backups.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.transfer import Transfer
from bridge.xmp.batch import ItemStatus, apply_plan, plan_merge
from bridge.xmp.journal import Journal
from tests.transfer.storage_double import Drop, FakeStorage
from tests.xmp_files.helpers import incoming_xmp, touch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UMASKS = {0o022: 0o644, 0o077: 0o600, 0o002: 0o664}


@pytest.fixture(params=sorted(UMASKS), ids=lambda m: f"umask-{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_downloads_are_not_executable(
    storage: FakeStorage, tmp_path: Path, umask: int
) -> None:
    storage.objects["xmp"] = b"<x:xmpmeta/>"
    storage.objects["dng"] = os.urandom(300_000)
    storage.plan("dng", Drop(after=100_000))  # a resumed download is no different
    async with Transfer() as transfer:
        paths = [
            await transfer.download(storage.link(key), tmp_path / "out", f"IMG_1.{key}")
            for key in ("xmp", "dng")
        ]
        paths.append(
            await transfer.download(storage.link("xmp"), tmp_path / "out", "IMG_1.xmp",
                                    overwrite=True)
        )  # fmt: skip
    assert [mode(p) for p in paths] == [UMASKS[umask]] * 3


def test_new_sidecars_and_backups_get_ordinary_modes(tmp_path: Path, umask: int) -> None:
    shoot, incoming = tmp_path / "shoot", tmp_path / "in"
    touch(shoot, "IMG_1.CR2", "IMG_2.CR2")
    (shoot / "IMG_1.xmp").write_bytes(incoming_xmp(None, exposure="-1.00"))
    (shoot / "IMG_1.xmp").chmod(0o640)  # an existing sidecar keeps the mode it had
    sources = [touch(incoming, f"IMG_{n}.xmp", data=incoming_xmp(None))[0] for n in (1, 2)]
    with Journal(tmp_path / "data") as journal:
        report = apply_plan(plan_merge(sources, shoot), journal, NOW)
    assert [i.status for i in report.items] == [ItemStatus.UPDATED, ItemStatus.CREATED]
    assert mode(shoot / "IMG_2.xmp") == UMASKS[umask]
    assert mode(shoot / "IMG_1.xmp") == 0o640
    (backup,) = (tmp_path / "data" / "backups").rglob("*.xmp")
    assert mode(backup) == UMASKS[umask]
    assert mode(backup.parent) == 0o700 & ~umask  # backups stay private by their folders
