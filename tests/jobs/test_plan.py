"""Validation and partitioning of the user's paths, on real files in temp folders."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bridge.jobs.plan import (
    SUPPORTED_HINT,
    Expectation,
    ImageKind,
    PlanError,
    PlanSummary,
    assign_projects,
    find_photos,
    kind_of,
    plan_edit,
)


def touch(path: Path, data: bytes = b"synthetic raw bytes") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def problems_of(paths: list[Path], **kwargs: object) -> tuple[str, ...]:
    with pytest.raises(PlanError) as caught:
        plan_edit(paths, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


@pytest.mark.parametrize(
    "name", ["a.dng", "a.NEF", "a.Cr2", "a.ARW", "a.cr3", "a.3FR", "a.fff", "a.RAF"]
)
def test_raw_extensions_are_recognised_in_any_case(name: str) -> None:
    assert kind_of(Path(name)) is ImageKind.RAW


@pytest.mark.parametrize("name", ["a.jpg", "a.JPEG", "a.Jpg"])
def test_jpeg_extensions(name: str) -> None:
    assert kind_of(Path(name)) is ImageKind.JPEG


def test_unsupported_extension_names_the_file_and_what_is_supported(tmp_path: Path) -> None:
    heic = touch(tmp_path / "IMG_9.HEIC")
    bare = touch(tmp_path / "README")
    with pytest.raises(PlanError) as caught:
        plan_edit([heic, bare])
    assert caught.value.problems == (
        f"{heic}: unsupported file type '.HEIC'",
        f"{bare}: unsupported file type (no extension)",
    )
    message = str(caught.value)
    assert SUPPORTED_HINT in message
    assert ".nef" in message and ".jpeg" in message
    assert message.startswith("Cannot start the edit: 2 problems:")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.CR2"
    assert problems_of([missing]) == (f"{missing}: no such file or folder",)


def test_empty_file(tmp_path: Path) -> None:
    empty = touch(tmp_path / "empty.NEF", b"")
    assert problems_of([empty]) == (f"{empty}: the file is empty (0 bytes)",)


def test_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.NEF"
    os.mkfifo(fifo)
    assert problems_of([fifo]) == (f"{fifo}: not a regular file",)


def test_hostile_characters_in_a_name_are_refused(tmp_path: Path) -> None:
    odd = touch(tmp_path / "a\\b.CR2")
    control = touch(tmp_path / "a\x07b.CR2")
    found = problems_of([odd, control])
    assert len(found) == 2
    assert all("control character or backslash" in p for p in found)
    assert found[0].startswith(str(odd))


def test_a_name_that_is_not_utf8_is_refused_before_any_upload(tmp_path: Path) -> None:
    undecodable = touch(tmp_path / os.fsdecode(b"IMG_\xff1.CR2"))
    (problem,) = problems_of([undecodable])
    assert "not valid UTF-8" in problem and "rename the file" in problem


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    """Run as an unprivileged user when tests run as root, so permissions really apply."""
    folder = Path(tempfile.mkdtemp(prefix="plan-unreadable-"))
    try:
        folder.chmod(0o755)
        secret = touch(folder / "secret.CR2")
        secret.chmod(0)
        # Import first, then drop root (root reads anything) before planning.
        script = (
            "import os, sys; from pathlib import Path\n"
            "from bridge.jobs.plan import plan_edit, PlanError\n"
            "if os.geteuid() == 0:\n    os.setgid(65534); os.setuid(65534)\n"
            "try:\n    plan_edit([Path(sys.argv[1])])\n"
            "except PlanError as e:\n    print(e.problems[0])\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(secret)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.stdout.strip() == f"{secret}: cannot be read (permission denied)"
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    good = touch(tmp_path / "ok.CR2")
    found = problems_of([good, tmp_path / "x.CR2", touch(tmp_path / "y.txt")])
    assert len(found) == 2


def test_the_same_path_twice_is_deduplicated(tmp_path: Path) -> None:
    photo = touch(tmp_path / "IMG_1.CR2")
    link = tmp_path / "link.CR2"
    link.symlink_to(photo)
    roundabout = tmp_path / "sub" / ".." / "IMG_1.CR2"
    (tmp_path / "sub").mkdir()
    plan = plan_edit([photo, photo, roundabout, link, tmp_path])
    assert [p.path for p in plan.photos] == [photo]
    assert len(plan.projects) == 1


def test_folders_expand_non_recursively_in_name_order(tmp_path: Path) -> None:
    touch(tmp_path / "b.NEF")
    touch(tmp_path / "a.NEF")
    touch(tmp_path / "a.xmp")
    touch(tmp_path / "b.NEF.XMP")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".hidden.NEF")
    touch(tmp_path / "nested" / "c.NEF")
    plan = plan_edit([tmp_path])
    assert [p.name for p in plan.photos] == ["a.NEF", "b.NEF"]
    # sidecars are the merge's business: a shoot of 2,000 raws does not list 2,000 of them
    assert [s.path.name for s in plan.skipped] == ["notes.txt"]
    assert "not a photo ('.txt')" in plan.skipped[0].reason

    deep = plan_edit([tmp_path], recursive=True)
    assert sorted(p.name for p in deep.photos) == ["a.NEF", "b.NEF", "c.NEF"]


def test_folder_without_photos_suggests_recursive(tmp_path: Path) -> None:
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "day1" / "IMG_1.CR2")
    assert problems_of([tmp_path]) == (
        f"{tmp_path}: folder holds no RAW or JPEG photos "
        "(it has subfolders: add --recursive to include them)",
    )


def test_empty_or_unreadable_photo_inside_a_folder_is_not_skipped_silently(
    tmp_path: Path,
) -> None:
    touch(tmp_path / "good.CR2")
    touch(tmp_path / "bad.CR2", b"")
    assert problems_of([tmp_path]) == (f"{tmp_path / 'bad.CR2'}: the file is empty (0 bytes)",)


def test_no_photos_at_all() -> None:
    assert problems_of([]) == ("no photos given",)


def test_raw_profile_refuses_jpegs_listing_each(tmp_path: Path) -> None:
    raw = touch(tmp_path / "a.CR2")
    jpgs = [touch(tmp_path / "b.jpg"), touch(tmp_path / "c.JPEG")]
    expect = Expectation(ImageKind.RAW, "profile 'CLEAN & CRISP' (5700) edits RAW files")
    found = problems_of([raw, *jpgs], expect=expect)
    assert found == tuple(
        f"{j}: JPEG file, but the profile 'CLEAN & CRISP' (5700) edits RAW files" for j in jpgs
    )


def test_smart_editing_refuses_raws(tmp_path: Path) -> None:
    raw = touch(tmp_path / "a.dng")
    expect = Expectation(ImageKind.JPEG, "Smart Editing (--smart) edits JPEG files only")
    assert problems_of([raw, touch(tmp_path / "b.jpg")], expect=expect) == (
        f"{raw}: RAW file, but the Smart Editing (--smart) edits JPEG files only",
    )


def test_raw_and_jpeg_without_expectation_go_to_separate_projects(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "b.CR2")
    touch(tmp_path / "c.dng")
    plan = plan_edit([tmp_path])
    assert [(p.kind, [ph.name for ph in p.photos]) for p in plan.projects] == [
        (ImageKind.RAW, ["b.CR2", "c.dng"]),
        (ImageKind.JPEG, ["a.jpg"]),
    ]
    assert [p.subdir for p in plan.projects] == ["project-1", "project-2"]
    assert plan.photos[1].is_dng and not plan.photos[0].is_dng


def test_duplicate_base_names_are_partitioned_never_collapsed(tmp_path: Path) -> None:
    first = touch(tmp_path / "a" / "IMG_1.CR2", b"one")
    second = touch(tmp_path / "b" / "IMG_1.CR2", b"two")
    third = touch(tmp_path / "b" / "IMG_2.CR2")
    plan = plan_edit([first, second, third])
    assert [[ph.path for ph in p.photos] for p in plan.projects] == [
        [first, third],
        [second],
    ]
    assert plan.projects[0].subdir == "project-1"
    assert plan.projects[1].total_bytes == 3
    # what progress shows before the job plans its projects: the same count, no plan made
    found = find_photos([first, second, third])
    assert found.paths == [str(first), str(second), str(third)]
    assert found.summary(keep_folders_together=False) == PlanSummary(
        3, 2, 3 + 3 + third.stat().st_size
    )


def test_names_equal_ignoring_case_or_normalisation_are_duplicates(tmp_path: Path) -> None:
    upper = touch(tmp_path / "x" / "IMG_1.CR2")
    lower = touch(tmp_path / "x" / "img_1.cr2")
    nfc = touch(tmp_path / "y" / "M\u00fcller.NEF")
    nfd = touch(tmp_path / "z" / "Mu\u0308ller.NEF")
    plan = plan_edit([upper, lower, nfc, nfd])
    assert len(plan.projects) == 2
    for project in plan.projects:
        keys = [ph.stem_key for ph in project.photos]
        assert len(keys) == len(set(keys))


def test_same_stem_different_raw_formats_do_not_share_a_project(tmp_path: Path) -> None:
    """Both would come back as IMG_1.xmp."""
    plan = plan_edit([touch(tmp_path / "IMG_1.CR2"), touch(tmp_path / "IMG_1.NEF")])
    assert len(plan.projects) == 2


def test_unicode_names_are_preserved_exactly(tmp_path: Path) -> None:
    names = ["Hochzeit Müller 01.NEF", "婚礼_002.CR2", "party 🎉 3.ARW", "Ålesund.dng"]
    for name in names:
        touch(tmp_path / name)
    plan = plan_edit([tmp_path])
    assert sorted(p.name for p in plan.photos) == sorted(names)
    assert all(p.path.exists() for p in plan.photos)


def test_hdr_keeps_each_folders_frames_together(tmp_path: Path) -> None:
    for folder in ("set1", "set2"):
        for n in (1, 2, 3):
            touch(tmp_path / folder / f"IMG_{n}.CR2")
    touch(tmp_path / "set2" / "IMG_4.CR2")
    paths = [tmp_path / "set1", tmp_path / "set2"]
    plan = plan_edit(paths, keep_folders_together=True)
    assert [[ph.path.parent.name for ph in p.photos] for p in plan.projects] == [
        ["set1"] * 3,
        ["set2"] * 4,
    ]
    # without the HDR constraint, IMG_4 would join the first project
    loose = plan_edit(paths)
    assert len(loose.projects[0].photos) == 4


def test_hdr_refuses_a_name_clash_inside_one_folder(tmp_path: Path) -> None:
    touch(tmp_path / "IMG_1.CR2")
    touch(tmp_path / "IMG_1.NEF")
    found = problems_of([tmp_path], keep_folders_together=True)
    assert len(found) == 1 and "HDR merge keeps a folder's frames in one project" in found[0]
    assert "IMG_1.CR2" in found[0]


def test_projects_are_capped_keep_groups_whole_and_never_share_a_stem() -> None:
    raw, jpg = ImageKind.RAW, ImageKind.JPEG
    members = [
        (raw, "a", "img_1"), (raw, "a", "img_2"), (raw, "a", "img_3"),  # one bracket folder
        (raw, 3, "img_1"), (raw, 4, "img_4"), (raw, 5, "img_5"),
        (jpg, 6, "img_6"), (raw, 7, "img_7"),
    ]  # fmt: skip
    numbers = assign_projects(members, cap=3)
    assert numbers == [0, 0, 0, 1, 1, 1, 3, 2]  # RAW projects first, the JPEG one last
    by_project: dict[int, list[tuple[ImageKind, object, str]]] = {}
    for member, number in zip(members, numbers, strict=True):
        by_project.setdefault(number, []).append(member)
    for held in by_project.values():
        assert len(held) <= 3 and len({kind for kind, _, _ in held}) == 1
        assert len({stem for _, _, stem in held}) == len(held)
    # members of no group (None) are placed as they come, first fit
    loose = [(raw, None, f"img_{n}") for n in range(7)] + [(raw, None, "IMG_0".casefold())]
    assert assign_projects(loose, cap=3) == [0, 0, 0, 1, 1, 1, 2, 2]
    # a group bigger than the cap stays whole, in a project of its own
    assert assign_projects([(raw, "b", f"s{n}") for n in range(5)] + [(raw, 9, "x")], cap=3) == [
        0, 0, 0, 0, 0, 1,
    ]  # fmt: skip
