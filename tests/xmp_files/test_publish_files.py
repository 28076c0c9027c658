"""Safe replacement of files in a photo folder: atomic, compare-before-publish, no leftovers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bridge.xmp.errors import PublishConflictError, PublishError
from bridge.xmp.publish import Snapshot, publish, read_snapshot, remove_published
from tests.xmp_files.helpers import leftovers, read_only_folder

OLD = b"<old sidecar/>"
NEW = b"<new sidecar/>"


def _existing(folder: Path, name: str = "IMG_1.xmp", data: bytes = OLD) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_update_replaces_content_and_keeps_permission_bits(tmp_path: Path) -> None:
    target = _existing(tmp_path)
    target.chmod(0o640)
    publish(read_snapshot(target, max_bytes=1000), NEW)
    assert target.read_bytes() == NEW
    assert target.stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == []


def test_new_file_is_created(tmp_path: Path) -> None:
    snapshot = read_snapshot(tmp_path / "Ünïcödé 写真 📷.xmp", max_bytes=1000)
    assert not snapshot.exists
    publish(snapshot, NEW)
    assert (tmp_path / "Ünïcödé 写真 📷.xmp").read_bytes() == NEW
    assert leftovers(tmp_path) == []


def test_change_between_read_and_publish_is_refused(tmp_path: Path) -> None:
    target = _existing(tmp_path)
    snapshot = read_snapshot(target, max_bytes=1000)

    def lightroom_writes(path: Path) -> None:
        path.write_bytes(b"<lightroom wrote this/>")

    with pytest.raises(PublishConflictError, match=r"changed while merging.*try again"):
        publish(snapshot, NEW, before_replace=lightroom_writes)
    assert target.read_bytes() == b"<lightroom wrote this/>"
    assert leftovers(tmp_path) == []


def test_same_size_change_is_detected(tmp_path: Path) -> None:
    target = _existing(tmp_path)
    snapshot = read_snapshot(target, max_bytes=1000)
    stat_before = target.stat()

    def sneaky(path: Path) -> None:  # same size, same mtime: only the bytes tell
        path.write_bytes(OLD.upper())
        os.utime(path, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))

    with pytest.raises(PublishConflictError):
        publish(snapshot, NEW, before_replace=sneaky)
    assert target.read_bytes() == OLD.upper()


def test_new_file_appearing_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    snapshot = read_snapshot(tmp_path / "IMG_1.xmp", max_bytes=1000)

    def other_writer(path: Path) -> None:
        path.write_bytes(b"<other/>")

    with pytest.raises(PublishConflictError):
        publish(snapshot, NEW, before_replace=other_writer)
    assert (tmp_path / "IMG_1.xmp").read_bytes() == b"<other/>"
    assert leftovers(tmp_path) == []


def test_deleted_meanwhile_is_a_conflict(tmp_path: Path) -> None:
    target = _existing(tmp_path)
    snapshot = read_snapshot(target, max_bytes=1000)
    with pytest.raises(PublishConflictError):
        publish(snapshot, NEW, before_replace=lambda path: path.unlink())
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_read_only_sidecar_is_refused(tmp_path: Path) -> None:
    target = _existing(tmp_path)
    target.chmod(0o444)
    with pytest.raises(PublishError, match=r"IMG_1\.xmp is read-only"):
        publish(read_snapshot(target, max_bytes=1000), NEW)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_read_only_folder_gives_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    target = _existing(folder)
    snapshot = read_snapshot(target, max_bytes=1000)
    with read_only_folder(folder), pytest.raises(PublishError) as caught:
        publish(snapshot, NEW)
    assert str(target) in str(caught.value)
    assert "permission denied" in str(caught.value)
    assert target.read_bytes() == OLD
    assert leftovers(folder) == []


def test_disk_full_leaves_original_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _existing(tmp_path)
    real_write = os.write
    calls = []

    def enospc_after_a_few_bytes(fd: int, data: bytes | memoryview) -> int:
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, bytes(data[:3]))  # a short write...
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ...then the disk is full

    monkeypatch.setattr(os, "write", enospc_after_a_few_bytes)
    with pytest.raises(PublishError, match=r"IMG_1\.xmp: the disk is full"):
        publish(read_snapshot(target, max_bytes=1000), NEW)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_disk_full_on_a_new_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def enospc(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", enospc)
    with pytest.raises(PublishError, match="disk is full"):
        publish(read_snapshot(tmp_path / "new.xmp", max_bytes=1000), NEW)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_named(tmp_path: Path) -> None:
    gone = tmp_path / "not here" / "IMG_1.xmp"
    with pytest.raises(PublishError, match=r"not here.*folder does not exist"):
        read_snapshot(gone, max_bytes=1000)
    with pytest.raises(PublishError, match="folder does not exist"):
        publish(Snapshot(gone, None), NEW)


def test_oversized_and_odd_targets_are_refused(tmp_path: Path) -> None:
    big = _existing(tmp_path, data=b"x" * 2000)
    with pytest.raises(PublishError, match="larger than 1000 bytes"):
        read_snapshot(big, max_bytes=1000)
    with pytest.raises(PublishError, match="not a regular file"):
        read_snapshot(tmp_path, max_bytes=1000)
    link = tmp_path / "link.xmp"
    link.symlink_to(big)
    with pytest.raises(PublishError, match="symbolic link"):
        read_snapshot(link, max_bytes=10_000)


def test_remove_published_only_when_unchanged(tmp_path: Path) -> None:
    target = _existing(tmp_path, data=NEW)
    remove_published(Snapshot(target, NEW))
    assert not target.exists()
    remove_published(Snapshot(target, NEW))  # already gone: nothing to do
    _existing(tmp_path, data=b"<edited by the user/>")
    with pytest.raises(PublishConflictError):
        remove_published(Snapshot(target, NEW))
    assert target.read_bytes() == b"<edited by the user/>"
