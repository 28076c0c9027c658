"""The progress view: plain lines for logs, live bars on a terminal, both fed the same events."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from bridge.commands.progress_view import ProgressView, human_bytes
from bridge.jobs.events import (
    FileBytes,
    PhotoFinished,
    PhotoResult,
    PhotoStatus,
    PhotoUploaded,
    ProjectPhase,
    RunEvent,
    ServerStatus,
)
from bridge.jobs.plan import PlanSummary, find_photos, plan_edit
from tests.jobs.helpers import make_photos


def summary_of(photos: list[Path]) -> PlanSummary:
    return find_photos(photos).summary(keep_folders_together=False)


def events_for(photos: list[Path]) -> list[RunEvent]:
    plan = plan_edit(photos)
    first, second = plan.photos
    return [
        ProjectPhase(1, "create"),
        ProjectPhase(1, "upload", "2 files"),
        FileBytes(1, "upload", first.name, 0, first.size),
        FileBytes(1, "upload", first.name, first.size // 2, first.size),
        FileBytes(1, "upload", first.name, first.size, first.size),
        FileBytes(1, "upload", second.name, second.size, second.size),
        PhotoUploaded(1, first.name, first.size),
        PhotoUploaded(1, second.name, second.size),
        ServerStatus(1, "edit", "In Progress", 40.0),
        ServerStatus(1, "edit", "In Progress", 40.0),
        ServerStatus(1, "edit", "Completed", 100.0),
        FileBytes(1, "download", "a.xmp", 0, 0),
        FileBytes(1, "download", "a.xmp", 4000, 4000),
        PhotoFinished(PhotoResult(first, 1, PhotoStatus.EDITED)),
        PhotoFinished(PhotoResult(second, 1, PhotoStatus.FAILED, error="no output [x]")),
        ProjectPhase(1, "done"),
    ]


def test_plain_lines_say_what_happened_once(tmp_path: Path) -> None:
    photos = make_photos(tmp_path, ["a.CR2", "b.CR2"], size=2000)
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=200)
    with ProgressView(console, summary_of(photos)) as view:
        for event in events_for(photos):
            view(event)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "2 photos in 1 project",
        "project 1: creating project",
        "project 1: uploading: 2 files",
        "uploaded a.CR2 (2.0 kB)",
        "uploaded b.CR2 (2.0 kB)",
        "project 1: edit In Progress 40%",
        "project 1: edit Completed 100%",
        f"failed {photos[1]}: no output [x]",
        "project 1: done",
    ]


def test_live_bars_render_on_a_terminal(tmp_path: Path) -> None:
    photos = make_photos(tmp_path, ["a.CR2", "b.CR2"], size=2000)
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    with ProgressView(console, summary_of(photos)) as view:
        for event in events_for(photos):
            view(event)
    drawn = stream.getvalue()
    assert "Photos" in drawn and "2/2" in drawn
    assert "failed" in drawn and "no output [x]" in drawn


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (12, 1234, 48_000_000, 6e11)] == [
        "12 B",
        "1.2 kB",
        "48.0 MB",
        "600.0 GB",
    ]


def test_quiet_prints_failures_only(tmp_path: Path) -> None:
    photos = make_photos(tmp_path, ["a.CR2", "b.CR2"], size=2000)
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, no_color=True, width=200)
    with ProgressView(console, summary_of(photos), quiet=True) as view:
        for event in events_for(photos):
            view(event)
    assert stream.getvalue().splitlines() == [f"failed {photos[1]}: no output [x]"]


def test_a_file_is_called_uploaded_only_once_the_store_accepted_it(tmp_path: Path) -> None:
    """Bytes sent in full by a try the store refused are not an upload."""
    photos = make_photos(tmp_path, ["a.CR2"], size=2000)
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=200)
    with ProgressView(console, summary_of(photos)) as view:
        for _ in range(3):  # three tries sent every byte, all refused
            view(FileBytes(1, "upload", "a.CR2", 2000, 2000))
    assert not [line for line in stream.getvalue().splitlines() if "uploaded" in line]


def test_counts_read_as_english(tmp_path: Path) -> None:
    """One photo is "1 photo", not "1 photos" (the plural of every count, everywhere)."""
    console = Console(file=io.StringIO(), width=200)
    with ProgressView(console, summary_of(make_photos(tmp_path, ["a.CR2"])), live=False):
        pass
    assert console.file.getvalue().splitlines()[0] == "1 photo in 1 project"  # type: ignore[attr-defined]
