"""``imagen-bridge merge`` and ``imagen-bridge undo``: sidecars in, journaled and reversible.

Results go to stdout (a table on a terminal, one plain line per file otherwise, or JSON);
progress and errors go to stderr. Exit codes: 0 all fine, 1 some file refused or failed
(or nothing to undo), 2 usage errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from bridge.commands.console import ExitCode, consoles
from bridge.settings import SettingsError, load_settings
from bridge.xmp.batch import (
    ItemResult,
    ItemStatus,
    MergePlan,
    MergeReport,
    ResultCallback,
    apply_plan,
    collect_sources,
    plan_merge,
    preview_plan,
)
from bridge.xmp.errors import XmpError
from bridge.xmp.journal import Journal, MergeSummary, UndoOutcome, UndoReport
from bridge.xmp.merge import CrsChanges
from bridge.xmp.reports import merge_result, merge_summary, shown, undo_result
from bridge.xmp.sidecar import Naming

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


def _echo_json(data: object) -> None:
    """Exact JSON on stdout (not re-rendered by rich), UTF-8 kept readable."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _line(out: Console, text: str, style: str = "") -> None:
    """One line of results: styled on a terminal; verbatim (tabs kept) for pipes and logs."""
    if out.is_terminal:
        out.print(Text(text, style=style), highlight=False)
    else:
        typer.echo(text)


def _now() -> datetime:
    return datetime.now().astimezone()


def _fail(err: Console, message: str, code: ExitCode) -> typer.Exit:
    err.print(Text.assemble(("Error: ", "red"), message))
    return typer.Exit(code)


def _data_dir(err: Console) -> Path:
    try:
        return load_settings().data_dir
    except SettingsError as exc:
        raise _fail(err, shown(exc), ExitCode.USAGE) from exc


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
    """
    out, err = consoles()
    if not into.is_dir():
        raise _fail(err, f"--into {shown(into)} is not a folder", ExitCode.USAGE)
    try:
        files = collect_sources(sources)
    except OSError as exc:
        raise _fail(err, shown(exc), ExitCode.USAGE) from exc
    if not files:
        raise _fail(err, "no .xmp files found in the given sources", ExitCode.USAGE)
    try:
        plan = plan_merge(files, into, recursive=recursive, naming=naming)
    except XmpError as exc:
        raise _fail(err, shown(exc), ExitCode.USAGE) from exc
    now = _now()
    with _progress(err, len(plan.items), enabled=not as_json) as advance:
        if dry_run:
            report = preview_plan(plan, now, on_result=advance)
        else:
            try:
                with Journal(_data_dir(err)) as journal:
                    report = apply_plan(plan, journal, now, on_result=advance)
            except XmpError as exc:
                raise _fail(err, shown(exc), ExitCode.FAILED) from exc
    if as_json:
        _echo_json(merge_result(plan, report).model_dump(mode="json"))
    else:
        _print_report(out, plan, report)
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)


@contextmanager
def _progress(err: Console, total: int, *, enabled: bool) -> Iterator[ResultCallback | None]:
    if not (enabled and err.is_terminal and total >= LARGE_BATCH):
        yield None
        return
    bar = Progress(
        TextColumn("merging"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        auto_refresh=False,  # no refresh thread: big merges fork workers, safe only without one
    )
    task = bar.add_task("merge", total=total)

    def advance(_result: ItemResult) -> None:
        bar.advance(task)
        bar.refresh()

    with bar:
        yield advance


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


def _print_report(out: Console, plan: MergePlan, report: MergeReport) -> None:
    rows = list(report.items)
    large = len(rows) > LARGE_BATCH
    if large:
        rows = [i for i in rows if i.status in (ItemStatus.REFUSED, ItemStatus.FAILED)]
    verb = "would be " if report.dry_run else ""
    if out.is_terminal and rows:
        table = Table("status", "incoming", "sidecar", "details", show_lines=False)
        for item in rows:
            table.add_row(
                Text(verb + item.status.value, style=_STATUS_STYLE[item.status]),
                Text(shown(item.source.name)),
                Text(_relative(item.sidecar, plan.into_dir)),
                Text(_detail(item)),
            )
        out.print(table)
    else:
        for item in rows:
            sidecar = _relative(item.sidecar, plan.into_dir)
            line = f"{verb}{item.status.value}\t{shown(item.source)}"
            line += f" -> {sidecar}" if sidecar else ""
            detail = _detail(item)
            _line(out, line + (f"\t{detail}" if detail else ""))
    counts = ", ".join(
        f"{report.count(status)} {verb}{status.value}"
        for status in ItemStatus
        if report.count(status)
    )
    if large:
        counts += " (only problems listed; --json lists every file)"
    _line(out, counts or "nothing to merge")
    if report.dry_run:
        _line(out, "Dry run: nothing was written.")
    elif report.merge_id:
        _line(out, f"Merge id: {report.merge_id}. To undo it: imagen-bridge undo {report.merge_id}")
        _line(
            out,
            "In Lightroom Classic, select the photos and use Metadata > Read Metadata from "
            "Files to load the new settings.",
        )
    else:
        _line(out, "Nothing was written; nothing to undo.")


# -- undo ------------------------------------------------------------------------------------


def undo_command(
    merge_id: Annotated[
        str | None, typer.Argument(help="The merge to undo (printed by `merge`; see --list).")
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="Undo the most recent merge.")] = False,
    list_merges: Annotated[
        bool, typer.Option("--list", help="List the merges that can be undone.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Put the sidecars of a merge back exactly as they were before it."""
    out, err = consoles()
    chosen = sum((merge_id is not None, last, list_merges))
    if chosen != 1:
        raise _fail(err, "give exactly one of MERGE_ID, --last or --list", ExitCode.USAGE)
    try:
        with Journal(_data_dir(err)) as journal:
            if list_merges:
                _print_merges(out, journal.merges(), as_json=as_json)
                raise typer.Exit(ExitCode.OK)
            target = merge_id if merge_id is not None else journal.last_merge_id()
            if target is None:
                raise _fail(err, "there are no merges to undo", ExitCode.FAILED)
            report = journal.undo(target, now=_now())
    except XmpError as exc:
        hint = " (to undo an older merge, give its id: see --list)" if last else ""
        raise _fail(err, shown(exc) + hint, ExitCode.FAILED) from exc
    _print_undo(out, report, as_json=as_json)
    raise typer.Exit(ExitCode.OK if report.complete else ExitCode.FAILED)


def _print_merges(out: Console, merges: list[MergeSummary], *, as_json: bool) -> None:
    if as_json:
        _echo_json([merge_summary(m).model_dump(mode="json") for m in merges])
        return
    if not merges:
        _line(out, "No merges recorded yet.")
        return
    table = Table("merge id", "time", "folder", "created", "updated", "state")
    for m in merges:
        when = m.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        cells = (m.merge_id, when, shown(m.into_dir), str(m.created), str(m.updated), m.state)
        if out.is_terminal:
            table.add_row(*(Text(cell) for cell in cells))
        else:
            _line(out, "\t".join(cells))
    if out.is_terminal:
        out.print(table)


def _print_undo(out: Console, report: UndoReport, *, as_json: bool) -> None:
    if as_json:
        _echo_json(undo_result(report).model_dump(mode="json"))
        return
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
