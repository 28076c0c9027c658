"""Batch merge over real folders: matching, statuses, refusals, failures, idempotence, undo."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.xmp.batch import (
    ItemStatus,
    MergeReport,
    apply_plan,
    collect_sources,
    plan_merge,
    plan_pairs,
    preview_plan,
)
from bridge.xmp.journal import Journal, UndoOutcome
from bridge.xmp.packet import parse_xmp
from bridge.xmp.sidecar import Naming
from bridge.xmp.values import crs_values
from tests.xmp_files.helpers import (
    incoming_xmp,
    leftovers,
    photographer_sidecar,
    read_only_folder,
    touch,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    with Journal(tmp_path / "data") as opened:
        yield opened  # type: ignore[misc]


def _incoming(folder: Path, name: str, raw_name: str | None = None, **kw: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(incoming_xmp(raw_name, **kw))
    return path


def _by_source(report: MergeReport) -> dict[str, tuple[ItemStatus, str]]:
    return {i.source.name: (i.status, i.reason or "") for i in report.items}


def _all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_create_update_unchanged_and_photographer_data_kept(
    tmp_path: Path, shared_dir: Path, journal: Journal
) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2", "IMG_2.nef")
    original = photographer_sidecar(shared_dir)
    (shoot / "IMG_1.XMP").write_bytes(original)
    sources = [
        _incoming(tmp_path / "in", "IMG_1.xmp", "IMG_1.CR2"),
        _incoming(tmp_path / "in", "IMG_2.xmp", "IMG_2.NEF"),
    ]
    report = apply_plan(plan_merge(sources, shoot), journal, NOW)
    assert _by_source(report) == {
        "IMG_1.xmp": (ItemStatus.UPDATED, ""),
        "IMG_2.xmp": (ItemStatus.CREATED, ""),
    }
    assert report.ok and report.merge_id is not None
    assert sorted(p.name for p in shoot.iterdir()) == ["IMG_1.CR2", "IMG_1.XMP", "IMG_2.nef",
                                                       "IMG_2.xmp"]  # fmt: skip
    updated = (shoot / "IMG_1.XMP").read_bytes()
    merged = crs_values(parse_xmp(updated))
    assert merged["Exposure2012"] == ("+0.50",)
    assert "Saturation" not in merged  # wholesale: the old edit's extra keys are gone
    for kept in (b'xmp:Rating="3"', b"lr:hierarchicalSubject", b"mwg-rs:Regions",
                 b'photoshop:City="Berkeley"', b"xmpMM:History"):  # fmt: skip
        assert kept in updated
    changes = report.items[0].changes
    assert "Exposure2012" in changes.changed and "Saturation" in changes.removed

    stats = {p.name: p.stat().st_mtime_ns for p in shoot.iterdir()}
    files = _all_files(shoot)
    again = apply_plan(plan_merge(sources, shoot), journal, NOW)
    assert {i.status for i in again.items} == {ItemStatus.UNCHANGED}
    assert again.merge_id is None
    assert _all_files(shoot) == files
    assert {p.name: p.stat().st_mtime_ns for p in shoot.iterdir()} == stats
    assert len(journal.merges()) == 1

    undo = journal.undo(report.merge_id, now=NOW)
    assert undo.complete
    assert (shoot / "IMG_1.XMP").read_bytes() == original
    assert not (shoot / "IMG_2.xmp").exists()


def test_dry_run_reports_the_same_and_writes_nothing(tmp_path: Path, shared_dir: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2", "IMG_2.CR2")
    (shoot / "IMG_1.xmp").write_bytes(photographer_sidecar(shared_dir))
    sources = [_incoming(tmp_path / "in", f"IMG_{n}.xmp") for n in (1, 2)]
    before = _all_files(tmp_path)
    report = preview_plan(plan_merge(sources, shoot), NOW)
    assert report.dry_run and report.merge_id is None
    assert [i.status for i in report.items] == [ItemStatus.UPDATED, ItemStatus.CREATED]
    assert _all_files(tmp_path) == before


def test_refusals_name_the_problem(tmp_path: Path, journal: Journal, shared_dir: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(
        shoot,
        "A.CR2",
        "A.NEF",
        "B.CR2",
        "C.DNG",
        "D.jpg",
        "E.TIF",
        "F.CR2",
        "G.CR2",
        "H.CR2",
        "I.CR2",
    )
    (shoot / "B.xmp").write_bytes(
        photographer_sidecar(shared_dir).replace(
            b'photoshop:City="Berkeley"',
            b'photoshop:City="Berkeley" photoshop:SidecarForExtension="NEF"',
        )
    )
    broken = (shared_dir / "data" / "xmp-samples" / "exiv2_issue_1713_poc.xmp").read_bytes()
    (shoot / "G.xmp").write_bytes(broken)
    incoming = tmp_path / "in"
    sources = [_incoming(incoming, f"{n}.xmp") for n in "ABCDEG"]
    sources.append(_incoming(incoming, "F.xmp", "Z.CR2"))  # made for another photo
    sources.append(_incoming(incoming, "H.xmp", extra=' photoshop:SidecarForExtension="ORF"'
                             ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'))  # fmt: skip
    sources.append(_incoming(incoming, "Nope.xmp"))
    (incoming / "I.xmp").write_bytes(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x/>')
    sources.append(incoming / "I.xmp")
    (incoming / "IMG_9.dng").write_bytes(b"II*\x00")
    sources.append(incoming / "IMG_9.dng")
    before = _all_files(shoot)
    report = apply_plan(plan_merge(sources, shoot), journal, NOW)
    got = _by_source(report)
    assert {status for status, _ in got.values()} == {ItemStatus.REFUSED}
    assert "A.NEF" in got["A.xmp"][1] and "A.xmp" in got["A.xmp"][1]
    assert "SidecarForExtension" in got["B.xmp"][1]
    assert "settings go to Lightroom" in got["C.xmp"][1]
    assert "settings go to Lightroom" in got["D.xmp"][1]
    assert "settings go to Lightroom" in got["E.xmp"][1]
    assert "Z.CR2" in got["F.xmp"][1]
    assert "left as it is" in got["G.xmp"][1]
    assert "SidecarForExtension" in got["H.xmp"][1]
    assert "no photo named Nope.*" in got["Nope.xmp"][1]
    assert "DOCTYPE" in got["I.xmp"][1]
    assert "settings go to Lightroom" in got["IMG_9.dng"][1]
    assert _all_files(shoot) == before
    assert report.merge_id is None and journal.merges() == []


def test_recursive_search_and_several_folders(tmp_path: Path, journal: Journal) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot / "day 1", "IMG_1.CR2", "IMG_2.CR2")
    touch(shoot / "day 2" / "card B", "IMG_2.cr2", "IMG_2.NEF")
    sources = [_incoming(tmp_path / "in", f"IMG_{n}.xmp") for n in (1, 2)]
    flat = plan_merge(sources, shoot)
    assert all("no photo named" in (i.refusal or "") for i in flat.items)
    report = apply_plan(plan_merge(sources, shoot, recursive=True), journal, NOW)
    got = _by_source(report)
    assert got["IMG_1.xmp"][0] is ItemStatus.CREATED
    assert (shoot / "day 1" / "IMG_1.xmp").exists()
    assert got["IMG_2.xmp"][0] is ItemStatus.REFUSED
    assert "day 1" in got["IMG_2.xmp"][1] and "card B" in got["IMG_2.xmp"][1]
    assert got["IMG_2.xmp"][1].count(str(shoot)) == 3  # each photo named once


def test_two_sources_for_one_photo_are_both_refused(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2")
    sources = [_incoming(tmp_path / "a", "IMG_1.xmp"), _incoming(tmp_path / "b", "img_1.XMP")]
    plan = plan_merge(sources, shoot)
    assert all("same photo IMG_1.CR2" in (i.refusal or "") for i in plan.items)


def test_source_that_is_the_sidecar_itself_is_refused(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2")
    source = _incoming(shoot, "IMG_1.xmp")
    (item,) = plan_merge([source], shoot).items
    assert "sidecar itself" in (item.refusal or "")


def test_darktable_naming(tmp_path: Path, journal: Journal) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2", "IMG_1.NEF")
    sources = [_incoming(tmp_path / "in", "IMG_1.CR2.xmp")]
    report = apply_plan(plan_merge(sources, shoot, naming=Naming.DARKTABLE), journal, NOW)
    assert report.items[0].status is ItemStatus.CREATED
    assert (shoot / "IMG_1.CR2.xmp").exists()
    ambiguous = plan_merge([_incoming(tmp_path / "in2", "IMG_1.xmp")], shoot,
                           naming=Naming.DARKTABLE)  # fmt: skip
    assert "several raws" in (ambiguous.items[0].refusal or "")


def test_unicode_and_tricky_names(tmp_path: Path, journal: Journal) -> None:
    shoot = tmp_path / "Hochzeit Müller 東京 🎉"
    touch(shoot, "DSC 0001 ü.CR2", "..CR2", "C:\\shoot\\IMG_1.CR2")
    incoming = tmp_path / "in ☃"
    sources = [
        _incoming(incoming, "DSC 0001 ü.xmp", "DSC 0001 ü.CR2"),
        _incoming(incoming, "..\\..\\evil.xmp"),
        _incoming(incoming, "C:\\shoot\\IMG_1.xmp"),
    ]
    report = apply_plan(plan_merge(sources, shoot), journal, NOW)
    got = _by_source(report)
    assert got["DSC 0001 ü.xmp"][0] is ItemStatus.CREATED
    assert got["..\\..\\evil.xmp"][0] is ItemStatus.REFUSED
    # A Windows-looking name is just a name here: it matches the photo literally so named.
    assert got["C:\\shoot\\IMG_1.xmp"][0] is ItemStatus.CREATED
    assert sorted(p.name for p in shoot.iterdir()) == sorted(
        ["DSC 0001 ü.CR2", "DSC 0001 ü.xmp", "..CR2", "C:\\shoot\\IMG_1.CR2",
         "C:\\shoot\\IMG_1.xmp"]
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", "in ☃", shoot.name])


def test_conflict_between_read_and_publish(tmp_path: Path, shared_dir: Path,
                                           journal: Journal) -> None:  # fmt: skip
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2")
    (shoot / "IMG_1.xmp").write_bytes(photographer_sidecar(shared_dir))

    def lightroom_saves(path: Path) -> None:
        path.write_bytes(b"<lightroom's newer save/>")

    report = apply_plan(
        plan_merge([_incoming(tmp_path / "in", "IMG_1.xmp")], shoot), journal, NOW,
        before_replace=lightroom_saves,
    )  # fmt: skip
    (item,) = report.items
    assert item.status is ItemStatus.FAILED
    assert "changed while merging" in (item.reason or "")
    assert (shoot / "IMG_1.xmp").read_bytes() == b"<lightroom's newer save/>"
    assert leftovers(shoot) == []
    assert journal.merges() == []
    assert not any((tmp_path / "data" / "backups").rglob("*.xmp"))


def test_disk_full_fails_the_file_and_keeps_everything(
    tmp_path: Path, shared_dir: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2", "IMG_2.CR2")
    original = photographer_sidecar(shared_dir)
    (shoot / "IMG_1.xmp").write_bytes(original)
    sources = [_incoming(tmp_path / "in", f"IMG_{n}.xmp") for n in (1, 2)]
    plan = plan_merge(sources, shoot)
    real = os.write
    calls = []

    def full_disk_in_photo_folder(fd: int, data: bytes) -> int:
        if str(Path(f"/proc/self/fd/{fd}").readlink()).startswith(str(shoot)):
            calls.append(fd)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)  # the backup in the data dir still writes

    monkeypatch.setattr(os, "write", full_disk_in_photo_folder)
    report = apply_plan(plan, journal, NOW)
    assert [i.status for i in report.items] == [ItemStatus.FAILED, ItemStatus.FAILED]
    assert all("disk is full" in (i.reason or "") for i in report.items)
    assert calls
    assert (shoot / "IMG_1.xmp").read_bytes() == original
    assert sorted(p.name for p in shoot.iterdir()) == ["IMG_1.CR2", "IMG_1.xmp", "IMG_2.CR2"]
    assert journal.merges() == []


def test_read_only_sidecar_and_folder(tmp_path: Path, shared_dir: Path, journal: Journal) -> None:
    locked = tmp_path / "locked"
    touch(locked, "IMG_1.CR2")
    (locked / "IMG_1.xmp").write_bytes(photographer_sidecar(shared_dir))
    (locked / "IMG_1.xmp").chmod(0o444)
    before = _all_files(locked)
    (item,) = apply_plan(plan_merge([_incoming(tmp_path / "in", "IMG_1.xmp")], locked),
                         journal, NOW).items  # fmt: skip
    assert item.status is ItemStatus.REFUSED
    assert "read-only" in (item.reason or "")
    assert _all_files(locked) == before

    frozen = tmp_path / "frozen"
    touch(frozen, "IMG_2.CR2")
    plan = plan_merge([_incoming(tmp_path / "in", "IMG_2.xmp")], frozen)
    with read_only_folder(frozen):
        (item,) = apply_plan(plan, journal, NOW).items
    assert item.status is ItemStatus.FAILED
    assert str(frozen / "IMG_2.xmp") in (item.reason or "")
    assert sorted(p.name for p in frozen.iterdir()) == ["IMG_2.CR2"]


def test_collect_sources_expands_folders_and_dedupes(tmp_path: Path) -> None:
    a = _incoming(tmp_path / "in", "A.xmp")
    b = _incoming(tmp_path / "in", "B.XMP")
    (tmp_path / "in" / "notes.txt").write_text("x")
    (tmp_path / "in" / "._A.xmp").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource fork
    assert list(collect_sources([tmp_path / "in", a])) == [a, b]
    assert list(collect_sources([a, tmp_path / "in", tmp_path / "in" / ".." / "in"])) == [a, b]
    with pytest.raises(FileNotFoundError, match="missing"):
        collect_sources([tmp_path / "missing"])


def test_collect_sources_counts_a_file_once_however_it_is_reached(tmp_path: Path) -> None:
    a = _incoming(tmp_path / "in", "A.xmp")
    b = _incoming(tmp_path / "in", "B.xmp")
    (tmp_path / "in" / "also-A.xmp").symlink_to(a)  # a link beside its file
    links = tmp_path / "links"
    links.mkdir()
    (links / "B.xmp").symlink_to(b)  # a link to a file of another folder given
    (links / "C.xmp").symlink_to(_incoming(tmp_path / "elsewhere", "C.xmp"))
    sources = collect_sources([tmp_path / "in", links, tmp_path / "elsewhere"])
    assert list(sources) == [a, b, links / "C.xmp"]
    assert len(sources) == 3 and sources[-1] == links / "C.xmp" and sources[1:] == [b, sources[2]]
    assert list(collect_sources([links / "B.xmp", tmp_path / "in"])) == [links / "B.xmp", a]


def test_plan_pairs_for_known_photos(tmp_path: Path, journal: Journal) -> None:
    shoot = tmp_path / "shoot"
    cr2, dng = touch(shoot, "IMG_1.CR2", "IMG_2.DNG")
    source = _incoming(tmp_path / "out", "whatever-name.xmp")
    plan = plan_pairs([(source, cr2), (source, dng)], into_dir=shoot)
    report = apply_plan(plan, journal, NOW)
    assert [i.status for i in report.items] == [ItemStatus.CREATED, ItemStatus.REFUSED]
    assert (shoot / "IMG_1.xmp").exists()
    undo = journal.undo(report.merge_id or "", now=NOW)
    assert [i.outcome for i in undo.items] == [UndoOutcome.REMOVED]


def test_many_chunks_keep_order_and_report_every_file(
    tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bridge.xmp.batch as batch_module

    monkeypatch.setattr(batch_module, "CHUNK_SIZE", 2)
    shoot = tmp_path / "shoot"
    names = [f"IMG_{n}" for n in range(7)]
    touch(shoot, *(f"{n}.CR2" for n in names if n != "IMG_3"))
    (shoot / "IMG_5.xmp").write_bytes(incoming_xmp(None, exposure="-1.00"))
    sources = [_incoming(tmp_path / "in", f"{n}.xmp") for n in names]
    seen: list[str] = []
    report = apply_plan(
        plan_merge(sources, shoot), journal, NOW, on_result=lambda r: seen.append(r.source.name)
    )
    assert seen == [f"{n}.xmp" for n in names]
    assert [i.status for i in report.items] == [
        ItemStatus.CREATED, ItemStatus.CREATED, ItemStatus.CREATED, ItemStatus.REFUSED,
        ItemStatus.CREATED, ItemStatus.UPDATED, ItemStatus.CREATED,
    ]  # fmt: skip
    (summary,) = journal.merges()
    assert (summary.created, summary.updated) == (5, 1)
    assert journal.undo(report.merge_id or "", now=NOW).complete
    assert sorted(p.name for p in shoot.iterdir()) == sorted(
        [f"{n}.CR2" for n in names if n != "IMG_3"] + ["IMG_5.xmp"]
    )


def test_symlinked_or_fifo_sidecar_is_refused_not_replaced(
    tmp_path: Path, shared_dir: Path, journal: Journal
) -> None:
    shoot = tmp_path / "shoot"
    touch(shoot, "IMG_1.CR2", "IMG_2.CR2")
    elsewhere = tmp_path / "elsewhere.xmp"
    elsewhere.write_bytes(photographer_sidecar(shared_dir))
    (shoot / "IMG_1.xmp").symlink_to(elsewhere)
    os.mkfifo(shoot / "IMG_2.xmp")
    sources = [_incoming(tmp_path / "in", f"IMG_{n}.xmp") for n in (1, 2)]
    report = apply_plan(plan_merge(sources, shoot), journal, NOW)
    got = _by_source(report)
    assert got["IMG_1.xmp"][0] is ItemStatus.REFUSED and "symbolic link" in got["IMG_1.xmp"][1]
    assert got["IMG_2.xmp"][0] is ItemStatus.REFUSED and "not a regular file" in got["IMG_2.xmp"][1]
    assert (shoot / "IMG_1.xmp").is_symlink()
    assert elsewhere.read_bytes() == photographer_sidecar(shared_dir)
    assert sorted(p.name for p in shoot.iterdir()) == ["IMG_1.CR2", "IMG_1.xmp", "IMG_2.CR2",
                                                       "IMG_2.xmp"]  # fmt: skip
    assert report.merge_id is None and journal.merges() == []


def test_big_batches_merge_in_worker_processes_with_the_same_results(
    tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing
    import threading

    import bridge.xmp.batch as batch_module

    if not batch_module._can_fork() or (os.cpu_count() or 1) < 2:
        pytest.skip(f"worker processes need Linux, 2+ cores, no threads ({threading.enumerate()})")
    monkeypatch.setattr(batch_module, "PROCESS_THRESHOLD", 1)
    monkeypatch.setattr(batch_module, "CHUNK_SIZE", 3)
    shoot = tmp_path / "shoot"
    names = [f"IMG_{n}" for n in range(10)]
    touch(shoot, *(f"{n}.NEF" for n in names))
    sources = [_incoming(tmp_path / "in", f"{n}.xmp", f"{n}.NEF") for n in names]
    sources.append(_incoming(tmp_path / "in", "IMG_99.xmp"))
    plan = plan_merge(sources, shoot)
    workers: list[int] = []
    preview = preview_plan(plan, NOW, on_result=lambda r: workers.append(
        len(multiprocessing.active_children())))  # fmt: skip
    assert min(workers) >= 2
    report = apply_plan(plan, journal, NOW)
    assert [i.status for i in report.items] == [ItemStatus.CREATED] * 10 + [ItemStatus.REFUSED]
    assert [i.changes for i in report.items] == [i.changes for i in preview.items]
    assert all((shoot / f"{n}.xmp").exists() for n in names)
