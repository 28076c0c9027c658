"""The merge journal: backups before writes, listing, byte-exact undo, refusals."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.xmp.errors import JournalError
from bridge.xmp.journal import _SCHEMA, JOURNAL_FILE, Journal, UndoOutcome, new_merge_id
from bridge.xmp.publish import Snapshot, publish, read_snapshot

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _write(journal: Journal, merge_id: str, target: Path, data: bytes) -> None:
    """What a merge does for one file: journal + backup first, then publish."""
    old = read_snapshot(target, max_bytes=10_000)
    journal.record(merge_id, now=NOW, into_dir=target.parent, writes=[(old, data)])
    publish(old, data)


def test_merge_ids_sort_by_time_and_are_folder_safe() -> None:
    ids = [new_merge_id(NOW + timedelta(microseconds=n)) for n in (0, 1, 999_999, 10**6)]
    assert ids == sorted(ids)
    assert all(set(i) <= set("0123456789abcdef-") for i in ids)


def test_undo_restores_bytes_and_removes_created(tmp_path: Path) -> None:
    updated = tmp_path / "Fotos Köln 東京" / "IMG_1.XMP"
    updated.parent.mkdir()
    original = b"\xef\xbb\xbf<photographer's own bytes/>\r\n"
    updated.write_bytes(original)
    updated.chmod(0o640)
    created = updated.parent / "IMG_2.xmp"
    merge_id = new_merge_id(NOW)
    with Journal(tmp_path / "data") as journal:
        _write(journal, merge_id, updated, b"<merged/>")
        _write(journal, merge_id, created, b"<new/>")
        backups = list((tmp_path / "data" / "backups" / merge_id).iterdir())
        assert [p.read_bytes() for p in backups] == [original]
        report = journal.undo(merge_id, now=NOW)
    assert report.complete
    assert {(i.sidecar.name, i.outcome) for i in report.items} == {
        ("IMG_1.XMP", UndoOutcome.RESTORED),
        ("IMG_2.xmp", UndoOutcome.REMOVED),
    }
    assert updated.read_bytes() == original
    assert updated.stat().st_mode & 0o777 == 0o640
    assert not created.exists()


def test_user_changed_file_is_refused_others_restored_then_retry(tmp_path: Path) -> None:
    a, b = tmp_path / "a.xmp", tmp_path / "b.xmp"
    a.write_bytes(b"<a old/>")
    merge_id = new_merge_id(NOW)
    with Journal(tmp_path / "data") as journal:
        _write(journal, merge_id, a, b"<a merged/>")
        _write(journal, merge_id, b, b"<b created/>")
        b.write_bytes(b"<b edited by the user/>")
        report = journal.undo(merge_id, now=NOW)
        assert not report.complete
        outcomes = {i.sidecar.name: i for i in report.items}
        assert outcomes["a.xmp"].outcome is UndoOutcome.RESTORED
        assert outcomes["b.xmp"].outcome is UndoOutcome.REFUSED
        assert "changed after the merge" in (outcomes["b.xmp"].reason or "")
        assert a.read_bytes() == b"<a old/>"
        assert b.read_bytes() == b"<b edited by the user/>"
        assert journal.merges()[0].state == "partly undone"
        # The user puts the file back as the merge wrote it: a second undo finishes the job.
        b.write_bytes(b"<b created/>")
        again = journal.undo(merge_id, now=NOW)
        assert [(i.sidecar.name, i.outcome) for i in again.items] == [
            ("b.xmp", UndoOutcome.REMOVED)
        ]
        assert again.complete
        with pytest.raises(JournalError, match="already undone"):
            journal.undo(merge_id, now=NOW)


def test_updated_file_edited_after_merge_is_refused_and_backup_named(tmp_path: Path) -> None:
    a = tmp_path / "a.xmp"
    a.write_bytes(b"<a old/>")
    merge_id = new_merge_id(NOW)
    with Journal(tmp_path / "data") as journal:
        _write(journal, merge_id, a, b"<a merged/>")
        a.write_bytes(b"<lightroom saved again/>")
        (item,) = journal.undo(merge_id, now=NOW).items
    assert item.outcome is UndoOutcome.REFUSED
    assert str(tmp_path / "data" / "backups" / merge_id) in (item.reason or "")
    assert a.read_bytes() == b"<lightroom saved again/>"


def test_crash_before_publish_undoes_cleanly(tmp_path: Path) -> None:
    """A row whose write never happened (crash between journal and replace) is judged by the
    bytes."""
    a = tmp_path / "a.xmp"
    a.write_bytes(b"<a old/>")
    merge_id = new_merge_id(NOW)
    with Journal(tmp_path / "data") as journal:
        journal.record(
            merge_id, now=NOW, into_dir=tmp_path,
            writes=[(read_snapshot(a, max_bytes=99), b"<never written/>")],
        )  # fmt: skip
    with Journal(tmp_path / "data") as reopened:
        (item,) = reopened.undo(merge_id, now=NOW).items
    assert item.outcome is UndoOutcome.ALREADY
    assert a.read_bytes() == b"<a old/>"


def test_journal_survives_reopen_and_lists_merges(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first, second = new_merge_id(NOW), new_merge_id(NOW + timedelta(minutes=5))
    with Journal(data_dir) as journal:
        (tmp_path / "x.xmp").write_bytes(b"<x/>")
        _write(journal, first, tmp_path / "x.xmp", b"<x merged/>")
        _write(journal, first, tmp_path / "y.xmp", b"<y/>")
        _write(journal, second, tmp_path / "z.xmp", b"<z/>")
    with Journal(data_dir) as journal:
        merges = journal.merges()
        assert [m.merge_id for m in merges] == [second, first]
        assert (merges[1].created, merges[1].updated, merges[1].state) == (1, 1, "applied")
        assert merges[1].into_dir == tmp_path
        assert journal.last_merge_id() == second
        assert journal.undo(first, now=NOW).complete
    assert (tmp_path / "x.xmp").read_bytes() == b"<x/>"


def test_unknown_and_malformed_ids_are_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "data") as journal:
        assert journal.last_merge_id() is None
        with pytest.raises(JournalError, match="no merge"):
            journal.undo(new_merge_id(NOW), now=NOW)
        for hostile in ("../../etc", "20260301-123000-000000-abcd/../x", "", "a\x00b"):
            with pytest.raises(JournalError, match="not a merge id"):
                journal.undo(hostile, now=NOW)


def test_damaged_backup_is_not_restored(tmp_path: Path) -> None:
    a = tmp_path / "a.xmp"
    a.write_bytes(b"<a old/>")
    merge_id = new_merge_id(NOW)
    with Journal(tmp_path / "data") as journal:
        _write(journal, merge_id, a, b"<a merged/>")
        (backup,) = (tmp_path / "data" / "backups" / merge_id).iterdir()
        backup.write_bytes(b"<tampered/>")
        (item,) = journal.undo(merge_id, now=NOW).items
    assert item.outcome is UndoOutcome.FAILED
    assert "damaged" in (item.reason or "")
    assert a.read_bytes() == b"<a merged/>"


def test_forget_drops_row_and_backup(tmp_path: Path) -> None:
    a = tmp_path / "a.xmp"
    a.write_bytes(b"<a/>")
    merge_id = new_merge_id(NOW)
    with Journal(tmp_path / "data") as journal:
        seqs = journal.record(
            merge_id, now=NOW, into_dir=tmp_path,
            writes=[(Snapshot(a, b"<a/>"), b"<b/>"), (Snapshot(tmp_path / "c.xmp", None), b"<c/>")],
        )  # fmt: skip
        assert seqs == [1, 2]
        journal.forget(merge_id, seqs)
        assert journal.merges() == []
        assert list((tmp_path / "data" / "backups" / merge_id).iterdir()) == []


def test_failed_backup_journals_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    a = tmp_path / "a.xmp"
    merge_id = new_merge_id(NOW)
    with Journal(data_dir) as journal:
        (data_dir / "backups" / merge_id).write_bytes(b"a file where the folder must go")
        with pytest.raises(JournalError, match="Cannot back up"):
            journal.record(
                merge_id, now=NOW, into_dir=tmp_path, writes=[(Snapshot(a, b"<a/>"), b"<b/>")]
            )
        assert journal.merges() == []


def test_unreadable_journal_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / JOURNAL_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="unreadable"):
        Journal(data_dir)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    with sqlite3.connect(tmp_path / JOURNAL_FILE) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(JournalError, match="newer"):
        Journal(tmp_path)


def test_journal_of_an_unknown_layout_is_refused_clearly(tmp_path: Path) -> None:
    """Same schema number, other tables (another build wrote it): refuse, never write into it."""
    path = tmp_path / JOURNAL_FILE
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE entries (merge_id TEXT, state TEXT CHECK (state IN ('done')))")
        db.execute("PRAGMA user_version=1")
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="layout this imagen-bridge does not know"):
        Journal(tmp_path)
    assert path.read_bytes() == before


def test_journal_whose_schema_differs_only_in_comments_opens(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / JOURNAL_FILE) as db:
        db.executescript(_SCHEMA.replace("-- ", "-- reworded: "))
    db.close()
    with Journal(tmp_path) as journal:
        assert journal.merges() == []


def test_a_database_failure_while_recording_keeps_files_and_backups_clean(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    target = tmp_path / "IMG_1.xmp"
    target.write_bytes(b"<photographer/>")
    merge_id = new_merge_id(NOW)
    with Journal(data_dir) as journal:
        with sqlite3.connect(data_dir / JOURNAL_FILE) as other:
            # The database refuses the row after the backup is on disk, as a full disk would.
            other.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON entries"
                " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        with pytest.raises(JournalError, match=r"merge journal .* failed: database or disk"):
            _write(journal, merge_id, target, b"<merged/>")
        assert journal.merges() == []
    assert target.read_bytes() == b"<photographer/>"
    assert list((data_dir / "backups" / merge_id).iterdir()) == []


def test_sidecar_name_that_is_not_utf8_is_backed_up_and_restored(tmp_path: Path) -> None:
    """Names from old shares may hold bytes that are not UTF-8; the journal must take them."""
    target = tmp_path / os.fsdecode(b"IMG_\xe9t\xe9.xmp")
    target.write_bytes(b"<photographer/>")
    merge_id = new_merge_id(NOW)
    with Journal(tmp_path / "data") as journal:
        _write(journal, merge_id, target, b"<merged/>")
        (backup,) = (tmp_path / "data" / "backups" / merge_id).iterdir()
        assert backup.read_bytes() == b"<photographer/>"
        (item,) = journal.undo(merge_id, now=NOW).items
    assert (item.sidecar, item.outcome) == (target, UndoOutcome.RESTORED)
    assert target.read_bytes() == b"<photographer/>"
