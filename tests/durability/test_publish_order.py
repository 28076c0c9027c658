"""Every publish is synced before its rename and its folder after, in that order, on real files.

The calls are recorded (not replaced) at the OS level, so removing any fsync on the way, in
the transfer engine, the sidecar publisher, the backups or the journal, fails a test here.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.transfer import Transfer
from bridge.xmp.batch import ItemStatus, apply_plan, plan_merge
from bridge.xmp.journal import Journal, UndoOutcome
from tests.durability.conftest import SyncLog
from tests.transfer.storage_double import Drop, FakeStorage
from tests.xmp_files.helpers import incoming_xmp, touch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD_SIDECAR = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
 xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>"""


async def test_a_download_is_synced_then_renamed_then_its_folders_synced(
    storage: FakeStorage, tmp_path: Path, sync_log: SyncLog
) -> None:
    storage.objects["o"] = b"edited bytes " * 10_000
    storage.plan("o", Drop(after=50_000))  # resumed into the same temp file
    dest = tmp_path / "out" / "project-1"
    async with Transfer() as transfer:
        path = await transfer.download(storage.link("o"), dest, "IMG_1.xmp")
        again = await transfer.download(storage.link("o"), dest, "IMG_1.xmp", overwrite=True)
    assert path == again and path.read_bytes() == storage.objects["o"]
    first = sync_log.assert_published(path)
    (link,) = [e for e in sync_log.events[: first + 1] if e.op == "link"]  # create-if-absent
    assert link.path == str(path)
    sync_log.assert_created(dest)  # a new output folder is on disk before a file in it
    sync_log.assert_created(dest.parent)
    replaced = sync_log.assert_published(path)  # the overwrite, published the same way
    assert sync_log.events[replaced].op == "replace"


def test_a_merge_syncs_backups_then_commits_then_publishes(
    tmp_path: Path, sync_log: SyncLog
) -> None:
    shoot, incoming, data = tmp_path / "Hochzeit Müller", tmp_path / "in", tmp_path / "data"
    day2 = shoot / "Tag 2"
    touch(shoot, "IMG_1.CR2")
    touch(day2, "IMG_2.CR2")
    (shoot / "IMG_1.xmp").write_bytes(OLD_SIDECAR)
    sources = [touch(incoming, f"IMG_{n}.xmp", data=incoming_xmp(None))[0] for n in (1, 2)]
    with Journal(data) as journal:
        report = apply_plan(plan_merge(sources, shoot, recursive=True), journal, NOW)
        assert [i.status for i in report.items] == [ItemStatus.UPDATED, ItemStatus.CREATED]
        assert report.merge_id is not None
        folder = data / "backups" / report.merge_id
        (backup,) = folder.iterdir()
        assert backup.read_bytes() == OLD_SIDECAR

        backup_synced = sync_log.where("fsync", backup)[-1]
        folder_synced = next(i for i in sync_log.where("fsync", folder) if i > backup_synced)
        committed = next(i for i in sync_log.where("commit") if i > folder_synced)
        sync_log.assert_created(folder)
        replaced = sync_log.assert_published(shoot / "IMG_1.xmp")
        created = sync_log.assert_published(day2 / "IMG_2.xmp")
        assert committed < min(replaced, created), "a sidecar was written before its journal row"
        assert sync_log.events[replaced].op == "replace"
        assert sync_log.events[created].op == "link"  # never over a file that appeared meanwhile

        undo = journal.undo(report.merge_id, now=NOW)
    assert [i.outcome for i in undo.items] == [UndoOutcome.REMOVED, UndoOutcome.RESTORED]
    restored = sync_log.assert_published(shoot / "IMG_1.xmp")
    assert restored > replaced
    sync_log.assert_removed(day2 / "IMG_2.xmp")
    assert (shoot / "IMG_1.xmp").read_bytes() == OLD_SIDECAR


def test_a_new_journal_and_its_backup_folder_are_on_disk(tmp_path: Path, sync_log: SyncLog) -> None:
    data = tmp_path / "new data dir"
    with Journal(data):
        pass
    sync_log.assert_created(data)
    sync_log.assert_created(data / "backups")


def test_the_journal_commits_with_full_sync_in_wal_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite syncs its own files; what makes it do so at every commit is these two pragmas
    (``synchronous`` is per connection, so it is read back from the journal's own). The
    connections start with syncing off, as a build with other defaults would give them."""
    opened: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def keep(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(connect(*args, **kwargs))
        opened[-1].execute("PRAGMA synchronous=OFF")
        return opened[-1]

    monkeypatch.setattr(sqlite3, "connect", keep)
    for _ in range(2):  # a new journal, then the same file opened again
        with Journal(tmp_path / "data"):
            db = opened[-1]
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert len(opened) == 2
