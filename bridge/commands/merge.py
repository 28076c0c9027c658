"""``imagen-bridge merge`` and ``imagen-bridge undo``: sidecars in, journaled and reversible.

Results go to stdout (a table on a terminal, one plain line per file otherwise, or JSON);
progress and errors go to stderr. Exit codes: 0 all fine, 1 some file refused or failed
(or nothing to undo), 2 usage or configuration errors (an unknown merge id is one);
errors and stops are reported as for every command (``bridge.commands.exits``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from bridge.commands.console import CommandFailed, ExitCode, UsageError, plural, program_name
from bridge.commands.exits import Report, run_command
from bridge.settings import load_settings
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
from bridge.xmp.errors import JournalError, XmpError
from bridge.xmp.formats import split_name
from bridge.xmp.journal import Journal, MergeSummary, UndoOutcome, UndoReport
from bridge.xmp.merge import CrsChanges
from bridge.xmp.sidecar import SIDECAR_EXTENSION, Naming

#: Above this many files the table lists only problems (``--json`` has every file) and a
#: progress bar runs on a terminal.
LARGE_BATCH = 50
_SHOWN_KEYS = 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_STATUS_STYLE = {
    ItemStatus.CREATED: "green",
    ItemStatus.UPDATED: "green",
    ItemStatus.UNCHANGED: "dim",
    ItemStatus.REFUSED: "yellow",
    ItemStatus.FAILED: "red",
}


def shown(value: object) -> str:
    """A file name safe to print: undecodable bytes and control characters made visible."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
    report = Report(as_json=as_json)

    def work() -> ExitCode:
        if not into.is_dir():
            raise UsageError(f"--into {shown(into)} is not a folder")
        files = find_sources(sources, recursive=recursive)
        try:
            plan = plan_merge(files, into, recursive=recursive, naming=naming)
        except XmpError as exc:
            raise UsageError(shown(exc)) from exc
        done: list[ItemResult] = []
        report.partial(lambda: _partial_json(plan, done, dry_run=dry_run))
        now = _now()
        with _progress(report.err, len(plan.items), enabled=not as_json) as advance:

            def on_result(item: ItemResult) -> None:
                done.append(item)
                if advance is not None:
                    advance(item)

            if dry_run:
                merged = preview_plan(plan, now, on_result=on_result)
            else:
                with Journal(load_settings().data_dir) as journal:
                    merged = apply_plan(plan, journal, now, on_result=on_result)
        code = ExitCode.OK if merged.ok else ExitCode.FAILED
        if not as_json:
            _print_report(report.out, plan, merged)
        return report.result(code, _report_json(plan, merged))

    raise typer.Exit(run_command(work, report))


def find_sources(paths: Sequence[Path], *, recursive: bool) -> list[Path]:
    """The incoming .xmp files: files as given, folders expanded (with --recursive, subfolders
    too; hidden ones are skipped). Nothing found is a usage error that says where to look.
    """
    expanded: list[Path] = []
    for path in paths:
        if recursive and path.is_dir():
            expanded += _sidecars_below(path)
        else:
            expanded.append(path)
    try:
        files = collect_sources(expanded)
    except OSError as exc:
        raise UsageError(shown(exc)) from exc
    if files:
        return files
    if not recursive:
        deeper = {
            sub: len(found)
            for path in paths
            if path.is_dir()
            for sub in _subfolders(path)
            if (found := _sidecars_below(sub))
        }
        if deeper:
            where = ", ".join(f"{shown(sub)}{os.sep}" for sub in sorted(deeper)[:3])
            more = ", ..." if len(deeper) > 3 else ""
            count = plural(sum(deeper.values()), ".xmp file")
            raise UsageError(
                f"no .xmp files directly in the given folders, but {count} in their "
                f"subfolders ({where}{more}): add --recursive to merge those"
            )
    given = ", ".join(shown(p) for p in paths[:3]) + (", ..." if len(paths) > 3 else "")
    below = " or their subfolders" if recursive else ""
    raise UsageError(f"no .xmp files found in {given}{below}")


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")
            )
    except OSError:
        return []


def _sidecars_below(folder: Path) -> list[Path]:
    """Every .xmp file in ``folder`` and its subfolders (hidden ones skipped), sorted."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += sorted(
            Path(root) / n
            for n in names
            if not n.startswith(".") and split_name(n)[1] == SIDECAR_EXTENSION
        )
    return found


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


def _shown_target(item: ItemResult, base: Path, *, dry_run: bool) -> str:
    """The file a line names: the sidecar where it exists (or will, in a dry run)."""
    written = item.status in (ItemStatus.CREATED, ItemStatus.UPDATED, ItemStatus.UNCHANGED)
    if item.sidecar is not None and ((written and dry_run) or item.sidecar.exists()):
        return _relative(item.sidecar, base)
    return _relative(item.photo, base)


def _print_report(out: Console, plan: MergePlan, report: MergeReport) -> None:
    rows = list(report.items)
    large = len(rows) > LARGE_BATCH
    if large:
        rows = [i for i in rows if i.status in (ItemStatus.REFUSED, ItemStatus.FAILED)]
    verb = "would be " if report.dry_run else ""
    if out.is_terminal and rows:
        table = Table("status", "incoming", "sidecar or photo", "details", show_lines=False)
        for item in rows:
            table.add_row(
                Text(verb + item.status.value, style=_STATUS_STYLE[item.status]),
                Text(shown(item.source.name)),
                Text(_shown_target(item, plan.into_dir, dry_run=report.dry_run)),
                Text(_detail(item)),
            )
        out.print(table)
    else:
        for item in rows:
            target = _shown_target(item, plan.into_dir, dry_run=report.dry_run)
            line = f"{verb}{item.status.value}\t{shown(item.source)}"
            line += f" -> {target}" if target else ""
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
        _line(out, f"Merge id: {report.merge_id}. To undo it: {_undo_line(report.merge_id)}")
        _line(
            out,
            "In Lightroom Classic, select the photos and use Metadata > Read Metadata from "
            "Files to load the new settings.",
        )
    else:
        _line(out, "Nothing was written; nothing to undo.")


def _undo_line(merge_id: str) -> str:
    return f"{program_name()} undo {merge_id}"


def _report_json(plan: MergePlan, report: MergeReport) -> dict[str, Any]:
    def path(value: Path | None) -> str | None:
        return None if value is None else shown(value)

    return {
        "merge_id": report.merge_id,
        "dry_run": report.dry_run,
        "into": path(plan.into_dir),
        "naming": plan.naming.value,
        "counts": {status.value: report.count(status) for status in ItemStatus},
        "undo": _undo_line(report.merge_id) if report.merge_id else None,
        "items": [
            {
                "source": path(item.source),
                "status": item.status.value,
                "photo": path(item.photo),
                "sidecar": path(item.sidecar),
                "reason": None if item.reason is None else shown(item.reason),
                "changes": {
                    "added": list(item.changes.added),
                    "removed": list(item.changes.removed),
                    "changed": list(item.changes.changed),
                },
            }
            for item in report.items
        ],
    }


def _partial_json(plan: MergePlan, done: list[ItemResult], *, dry_run: bool) -> dict[str, Any]:
    """What an interrupted merge had done: the files finished so far (all journaled)."""
    data = _report_json(plan, MergeReport(None, dry_run, tuple(done)))
    if not dry_run and done:
        data["undo"] = f"{program_name()} undo --list"  # its id is the newest listed there
    return data


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
                return report.result(ExitCode.OK, {"merges": [_merge_json(m) for m in merges]})
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
        return report.result(code, _undo_json(undone))

    raise typer.Exit(run_command(work, report))


def _merge_json(m: MergeSummary) -> dict[str, Any]:
    return {
        "merge_id": m.merge_id,
        "created_at": m.created_at.isoformat(),
        "into": shown(m.into_dir),
        "created": m.created,
        "updated": m.updated,
        "state": m.state,
        "undone_at": m.undone_at.isoformat() if m.undone_at else None,
    }


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


def _undo_json(report: UndoReport) -> dict[str, Any]:
    return {
        "merge_id": report.merge_id,
        "complete": report.complete,
        "items": [
            {
                "sidecar": shown(item.sidecar),
                "outcome": item.outcome.value,
                "reason": None if item.reason is None else shown(item.reason),
            }
            for item in report.items
        ],
    }


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
