"""``imagen-bridge merge`` and ``imagen-bridge undo``: sidecars in, journaled and reversible.

Results go to stdout (a table on a terminal, one plain line per file otherwise, or JSON);
progress and errors go to stderr. Exit codes: 0 all fine, 1 some file refused or failed
(or nothing to undo), 2 usage or configuration errors (an unknown merge id is one);
errors and stops are reported as for every command (``bridge.commands.exits``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from bridge.commands.console import (
    CommandFailed,
    ExitCode,
    UsageError,
    json_text,
    program_name,
)
from bridge.commands.exits import Report, run_command
from bridge.settings import load_settings
from bridge.xmp import sources
from bridge.xmp.batch import (
    ItemResult,
    ItemStatus,
    MergePlan,
    MergeTally,
    plan_merge,
    stream_merge,
)
from bridge.xmp.errors import JournalError, XmpError
from bridge.xmp.journal import Journal, MergeSummary, UndoOutcome, UndoReport
from bridge.xmp.merge import CrsChanges
from bridge.xmp.reports import (
    MergeList,
    merge_item,
    merge_result,
    merge_summary,
    shown,
    undo_result,
)
from bridge.xmp.sidecar import Naming
from bridge.xmp.sources import SourceError

#: Above this many files the table lists only problems (``--json`` has every file) and a
#: progress bar runs on a terminal.
LARGE_BATCH = 50
_SHOWN_KEYS = 4
_STATUS_STYLE = {
    ItemStatus.CREATED: "green",
    ItemStatus.UPDATED: "green",
    ItemStatus.UNCHANGED: "dim",
    ItemStatus.REFUSED: "yellow",
    ItemStatus.FAILED: "red",
}


def _relative(path: Path | None, base: Path) -> str:
    if path is None:
        return ""
    try:
        return shown(path.relative_to(base))
    except ValueError:
        return shown(path)


def _line(out: Console, text: str, style: str = "") -> None:
    """One line of results: styled on a terminal; verbatim (tabs kept) for pipes and logs."""
    if out.is_terminal:
        out.print(Text(text, style=style), highlight=False)
    else:
        typer.echo(text)


def _now() -> datetime:
    return datetime.now().astimezone()


# -- merge -----------------------------------------------------------------------------------


def merge_command(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Incoming .xmp files from Imagen, or folders holding them."),
    ],
    into: Annotated[
        Path, typer.Option("--into", help="The folder with the photos and their sidecars.")
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Also look for photos in subfolders.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    naming: Annotated[
        Naming,
        typer.Option(
            "--naming",
            case_sensitive=False,
            help="Sidecar names: adobe (IMG_1.xmp, Lightroom) or darktable (IMG_1.CR2.xmp).",
        ),
    ] = Naming.ADOBE,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Merge Imagen's develop settings (crs) into the sidecars next to your raws.

    Only the Camera Raw settings are replaced; ratings, keywords and all other metadata
    stay as they are. Every write is backed up and can be reversed with `imagen-bridge undo`.
    With --recursive, source folders are searched with their subfolders too, so `edit`'s
    own output folder (project-1/, project-2/... when it used several projects) can be given
    as it is.
    """
    report = _StreamedReport(as_json=as_json)

    def work() -> ExitCode:
        if not into.is_dir():
            raise UsageError(f"--into {shown(into)} is not a folder")
        files = find_sources(sources, recursive=recursive)
        try:
            plan = plan_merge(files, into, recursive=recursive, naming=naming)
        except XmpError as exc:
            raise UsageError(shown(exc)) from exc
        tally = MergeTally(None, dry_run)
        report.partial(lambda: _partial_json(plan, tally))
        head = _head_json(plan, tally)
        now = _now()
        with _Progress(report.err, len(plan.items), enabled=not as_json) as progress:
            view = _ResultLines(report.out, plan, progress, dry_run=dry_run)

            def on_result(item: ItemResult) -> None:
                tally.add(item)
                if as_json:
                    report.item(head, _item_json(item))
                else:
                    view.add(item)
                progress.advance()

            if dry_run:
                done = stream_merge(plan, now, on_result, journal=None)
            else:
                with Journal(load_settings().data_dir) as journal:
                    done = stream_merge(plan, now, on_result, journal=journal)
        if not as_json:
            view.finish(done)
        code = ExitCode.OK if done.ok else ExitCode.FAILED
        return report.result(code, _result_json(plan, done))

    raise typer.Exit(run_command(work, report))


def find_sources(paths: Sequence[Path], *, recursive: bool) -> Sequence[Path]:
    """The incoming .xmp files (see :func:`bridge.xmp.sources.find_sources`)."""
    try:
        return sources.find_sources(paths, recursive=recursive, deeper_hint="add --recursive")
    except SourceError as exc:
        raise UsageError(str(exc)) from exc


class _Progress:
    """A bar on a terminal for big merges; lines of results can be printed above it."""

    def __init__(self, err: Console, total: int, *, enabled: bool) -> None:
        self._bar: Progress | None = None
        if enabled and err.is_terminal and total >= LARGE_BATCH:
            self._bar = Progress(
                TextColumn("merging"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
                auto_refresh=False,  # no refresh thread: big merges fork workers
                redirect_stdout=False,  # results stream to stdout meanwhile, as they are
                redirect_stderr=False,
            )
            self._task = self._bar.add_task("merge", total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)
            self._bar.refresh()

    def line(self, out: Console, text: str, style: str) -> None:
        """A line of results; on a terminal drawn above the bar rather than through it."""
        if self._bar is not None and out.is_terminal:
            self._bar.console.print(Text(text, style=style), highlight=False)
        else:
            _line(out, text, style)


def _changes_text(changes: CrsChanges) -> str:
    parts = []
    for word, keys in (
        ("added", changes.added),
        ("removed", changes.removed),
        ("changed", changes.changed),
    ):
        if keys:
            names = ", ".join(keys[:_SHOWN_KEYS])
            more = f" +{len(keys) - _SHOWN_KEYS}" if len(keys) > _SHOWN_KEYS else ""
            parts.append(f"{len(keys)} {word} ({names}{more})")
    return "; ".join(parts)


def _detail(item: ItemResult) -> str:
    return shown(item.reason) if item.reason else _changes_text(item.changes)


def _shown_target(item: ItemResult, base: Path, *, dry_run: bool) -> str:
    """The file a line names: the sidecar where it exists (or will, in a dry run)."""
    written = item.status in (ItemStatus.CREATED, ItemStatus.UPDATED, ItemStatus.UNCHANGED)
    if item.sidecar is not None and ((written and dry_run) or item.sidecar.exists()):
        return _relative(item.sidecar, base)
    return _relative(item.photo, base)


class _ResultLines:
    """The text report, written as results come: a table for a few files on a terminal, one
    line per file in a pipe, only the problems of a big merge on a terminal."""

    def __init__(self, out: Console, plan: MergePlan, progress: _Progress, *, dry_run: bool):
        self._out = out
        self._base = plan.into_dir
        self._progress = progress
        self._dry_run = dry_run
        self._verb = "would be " if dry_run else ""
        self._problems_only = out.is_terminal and len(plan.items) > LARGE_BATCH
        self._table: Table | None = None
        if out.is_terminal and not self._problems_only:
            self._table = Table("status", "incoming", "sidecar or photo", "details")

    def add(self, item: ItemResult) -> None:
        if self._problems_only and item.status not in (ItemStatus.REFUSED, ItemStatus.FAILED):
            return
        target = _shown_target(item, self._base, dry_run=self._dry_run)
        status, style, detail = (
            self._verb + item.status.value,
            _STATUS_STYLE[item.status],
            _detail(item),
        )
        if self._table is not None:  # a few rows (LARGE_BATCH at most): one table at the end
            row = (shown(item.source.name), target, detail)
            self._table.add_row(Text(status, style=style), *(Text(cell) for cell in row))
            return
        line = f"{status}\t{shown(item.source)}" + (f" -> {target}" if target else "")
        self._progress.line(self._out, line + (f"\t{detail}" if detail else ""), style)

    def finish(self, done: MergeTally) -> None:
        out, verb = self._out, self._verb
        if self._table is not None and self._table.row_count:
            out.print(self._table)
        counts = ", ".join(
            f"{done.count(status)} {verb}{status.value}"
            for status in ItemStatus
            if done.count(status)
        )
        if self._problems_only:
            counts += " (only problems listed; --json lists every file)"
        _line(out, counts or "nothing to merge")
        if done.dry_run:
            _line(out, "Dry run: nothing was written.")
        elif done.merge_id:
            _line(out, f"Merge id: {done.merge_id}. To undo it: {_undo_line(done.merge_id)}")
            _line(
                out,
                "In Lightroom Classic, select the photos and use Metadata > Read Metadata from "
                "Files to load the new settings.",
            )
        else:
            _line(out, "Nothing was written; nothing to undo.")


def _undo_line(merge_id: str) -> str:
    return f"{program_name()} undo {merge_id}"


#: The fields of ``merge --json`` known before any file is merged: written first.
_HEAD_FIELDS = ("dry_run", "into", "naming")


def _result_json(plan: MergePlan, done: MergeTally) -> dict[str, Any]:
    """The document's fields but ``items`` (streamed one by one, :func:`_item_json`)."""
    data = merge_result(plan, done, program=program_name()).model_dump(mode="json")
    del data["items"]
    return data


def _head_json(plan: MergePlan, done: MergeTally) -> dict[str, Any]:
    data = _result_json(plan, done)
    return {key: data[key] for key in _HEAD_FIELDS}


def _item_json(item: ItemResult) -> dict[str, Any]:
    return merge_item(item).model_dump(mode="json")


def _partial_json(plan: MergePlan, done: MergeTally) -> dict[str, Any]:
    """What an interrupted merge had done: the files finished so far (all journaled; those
    already streamed stay in ``items``, which is empty before the first) and their counts."""
    data = {**_result_json(plan, done), "items": []}
    if not done.dry_run and any(done.counts.values()):
        data["undo"] = f"{program_name()} undo --list"  # its id is the newest listed there
    return data


class _StreamedReport(Report):
    """``merge --json`` as one document written as the merge goes, so a merge of any size
    holds no file's result once it is printed: the fields known first, then ``items`` one by
    one, then (at the end, or on an error or a signal) the rest of the fields and ``ok``."""

    def __init__(self, *, as_json: bool) -> None:
        super().__init__(as_json=as_json)
        self._head: dict[str, Any] | None = None
        self._items = 0

    def item(self, head: dict[str, Any], data: dict[str, Any]) -> None:
        write = self.out.file.write
        if self._head is None:
            self._head = head
            write("{\n" + "".join(_json_field(k, v) + ",\n" for k, v in head.items()))
            write('  "items": [')
        write(("," if self._items else "") + "\n" + _indented(json_text(data), 4))
        self._items += 1

    def _print_json(self, code: ExitCode, data: dict[str, Any]) -> None:
        if self._head is None:  # nothing streamed yet: the usual document
            super()._print_json(code, data)
            return
        if self._printed:
            return
        self._printed = True
        rest = {k: v for k, v in data.items() if k not in self._head and k not in ("items", "ok")}
        rest["ok"] = code is ExitCode.OK
        fields = ",\n".join(_json_field(k, v) for k, v in rest.items())
        self.out.file.write("\n  ],\n" + fields + "\n}\n")
        self.out.file.flush()


def _json_field(key: str, value: object) -> str:
    """``  "key": value`` as a field of a document indented like :func:`json_text`'s."""
    return "  " + json_text(key).strip() + ": " + _indented(json_text(value), 2).lstrip()


def _indented(text: str, spaces: int) -> str:
    """``text`` (one JSON value, without its final newline) indented by ``spaces``."""
    pad = " " * spaces
    return "\n".join(pad + line for line in text.rstrip("\n").split("\n"))


# -- undo ------------------------------------------------------------------------------------


def undo_command(
    merge_id: Annotated[
        str | None,
        typer.Argument(
            help="The merge to undo (printed by `merge`; see --list).", show_default=False
        ),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="Undo the most recent merge.")] = False,
    list_merges: Annotated[
        bool, typer.Option("--list", help="List the merges that can be undone.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Put the sidecars of a merge back exactly as they were before it."""
    report = Report(as_json=as_json)

    def work() -> ExitCode:
        if sum((merge_id is not None, last, list_merges)) != 1:
            raise UsageError("give exactly one of MERGE_ID, --last or --list")
        with Journal(load_settings().data_dir) as journal:
            merges = journal.merges()
            if list_merges:
                if not as_json:
                    _print_merges(report.out, merges)
                listed = MergeList(merges=[merge_summary(m) for m in merges])
                return report.result(ExitCode.OK, listed.model_dump(mode="json"))
            if merge_id is not None and merge_id not in {m.merge_id for m in merges}:
                raise UsageError(
                    f"there is no merge {shown(merge_id)!r} in the journal; "
                    f"`{program_name()} undo --list` lists the merges that can be undone"
                )
            target = merge_id if merge_id is not None else journal.last_merge_id()
            if target is None:
                raise CommandFailed("there are no merges to undo")
            try:
                undone = journal.undo(target, now=_now())
            except JournalError as exc:
                hint = " (to undo an older merge, give its id: see --list)" if last else ""
                raise CommandFailed(shown(exc) + hint) from exc
        if not as_json:
            _print_undo(report.out, undone)
        code = ExitCode.OK if undone.complete else ExitCode.FAILED
        return report.result(code, undo_result(undone).model_dump(mode="json"))

    raise typer.Exit(run_command(work, report))


_MERGE_COLUMNS = ("merge id", "time", "folder", "created", "updated", "state")


def _print_merges(out: Console, merges: list[MergeSummary]) -> None:
    if not merges:
        _line(out, "No merges recorded yet.")
        return
    rows = [
        (
            m.merge_id,
            m.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            shown(m.into_dir),
            str(m.created),
            str(m.updated),
            m.state,
        )
        for m in merges
    ]
    if out.is_terminal:
        table = Table(*_MERGE_COLUMNS)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        out.print(table)
        return
    for row in (_MERGE_COLUMNS, *rows):
        _line(out, "\t".join(row))


def _print_undo(out: Console, report: UndoReport) -> None:
    for item in report.items:
        line = f"{item.outcome.value}\t{shown(item.sidecar)}"
        style = "red" if item.outcome in (UndoOutcome.REFUSED, UndoOutcome.FAILED) else ""
        _line(out, line + (f"\t{shown(item.reason)}" if item.reason else ""), style)
    if report.complete:
        _line(out, f"Merge {report.merge_id} is undone.")
    else:
        _line(
            out,
            f"Merge {report.merge_id} is only partly undone (see above); run the same undo "
            "again once those files are sorted out.",
        )
