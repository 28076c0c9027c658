"""``imagen-bridge deliver FILE...|JOB_ID --to imgwire|imagekit``: exported JPEGs to a gallery
or CDN; a job's are recorded per photo in the job store, so none is delivered twice.

Everything that can be checked is checked before the first upload, and every problem is
listed at once (exit 2): missing or unreadable files, types the target does not take, files
over ImageKit's plan limit, bad tags, folders too deep, a missing key. What ImageKit's rules
change (file names, folder characters) is said on stderr before anything is sent. Without
a key (and no base URL) for the target, delivery runs against the built-in emulator.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bridge.commands.console import ErrorKind, ExitCode, UsageError, command_logger, program_name
from bridge.commands.exits import Report, run_command
from bridge.delivery import (
    DeliveryAuthError,
    DeliveryError,
    DeliveryEvent,
    DeliveryItem,
    DeliveryRefused,
    DeliveryResult,
    ImagekitClient,
    ImagekitOptions,
    Target,
    check_all,
    deliver_all,
    emulator_notice,
    open_client,
    uses_emulator,
)
from bridge.jobs.engine import JobEngine
from bridge.jobs.errors import JobConflict, JobNotFound, JobRequestError
from bridge.jobs.models import DeliverySpec, JobState
from bridge.settings import Settings, load_settings

TARGETS: tuple[Target, ...] = ("imgwire", "imagekit")


@dataclass(frozen=True)
class DeliverArgs:
    files: Sequence[Path]
    to: str
    folder: str | None = None
    tags: Sequence[str] = ()
    overwrite: bool = False
    private: bool = False
    json: bool = False
    concurrency: int = 4


def _target(value: str) -> Target:
    for target in TARGETS:
        if value.strip().lower() == target:
            return target
    raise DeliveryRefused([f"--to must be imgwire or imagekit, not {value!r}"])


def _tags(values: Sequence[str]) -> tuple[str, ...]:
    """``--tags a,b --tags c`` -> (a, b, c)."""
    return tuple(part for value in values for part in value.split(","))


def _options(args: DeliverArgs, settings: Settings, target: Target) -> ImagekitOptions | None:
    if target == "imgwire":
        asked = {
            "--folder": args.folder is not None,
            "--tags": bool(args.tags),
            "--overwrite": args.overwrite,
            "--private": args.private,
        }
        given = [flag for flag, on in asked.items() if on]
        if given:
            raise DeliveryRefused(
                [f"{', '.join(given)}: ImageKit options; Imgwire has no folders or tags"]
            )
        return None
    return ImagekitOptions(
        folder=args.folder or "/",
        tags=_tags(args.tags),
        private=args.private,
        overwrite=args.overwrite,
        max_file_mb=settings.imagekit_max_file_mb,
        custom_metadata=settings.imagekit_custom_metadata,
    )


@asynccontextmanager
async def _emulated(target: Target, settings: Settings, err: Console) -> AsyncIterator[str | None]:
    """The embedded emulator's base URL for ``target`` when no key is set, else None."""
    if not uses_emulator(settings, target):
        yield None
        return
    from bridge.emulator.app import EmulatorConfig, running_emulator
    from bridge.emulator.faults import FaultConfig

    err.print(emulator_notice(target), style="yellow", highlight=False)
    config = EmulatorConfig(faults=FaultConfig.from_env(os.environ))
    async with running_emulator(config) as running:
        yield running.imgwire_url if target == "imgwire" else running.imagekit_url


class _Progress:
    """Bytes and files on stderr: a live bar on a terminal, a line per file otherwise."""

    def __init__(
        self, err: Console, items: Sequence[DeliveryItem], finished: list[DeliveryResult]
    ) -> None:
        self._err = err
        self._finished_results = finished
        self._live = err.is_terminal
        self._sizes = {item.path.name: item.path.stat().st_size for item in items}
        self._done: dict[str, int] = {}
        self._bar = Progress(
            TextColumn("[bold]Delivering"), BarColumn(), DownloadColumn(), MofNCompleteColumn(),
            console=err, transient=True,
        )  # fmt: skip
        self._bytes = self._bar.add_task("bytes", total=sum(self._sizes.values()))
        self._finished = 0

    def __enter__(self) -> _Progress:
        if self._live:
            self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._live:
            self._bar.stop()

    def __call__(self, event: DeliveryEvent) -> None:
        if event.kind == "bytes":
            self._done[event.name] = event.done
            self._bar.update(self._bytes, completed=sum(self._done.values()))
            return
        result = event.result
        assert result is not None
        self._finished_results.append(result)
        self._finished += 1
        words = result.status if result.ok else f"FAILED: {result.error}"
        line = f"[{self._finished}/{len(self._sizes)}] {event.name}: {words}"
        self._err.print(escape(line), highlight=False)


SHOWN_CHANGES = 10


def _say_changes(err: Console, changes: list[str]) -> None:
    """What ImageKit's rules change, before anything is sent (the first few, then a count)."""
    unique = list(dict.fromkeys(changes))
    for change in unique[:SHOWN_CHANGES]:
        err.print(f"ImageKit rules: {escape(change)}", highlight=False)
    if len(unique) > SHOWN_CHANGES:
        more = len(unique) - SHOWN_CHANGES
        err.print(f"ImageKit rules: and {more} more (see each result's changes)", highlight=False)


def _table(results: list[DeliveryResult], out: Console) -> None:
    table = Table("file", "status", "where", "url")
    for result in results:
        status = result.status + (" (already there)" if result.already_there else "")
        where = result.remote_path or result.remote_id or ""
        shown = status if result.ok else f"failed: {result.error}"
        table.add_row(escape(result.source), escape(shown), escape(where), escape(result.url or ""))
    out.print(table)


_JOB_ID = re.compile(r"^j-\d{8}-\d{6}-[0-9a-f]{6}$")


def job_id_of(args: DeliverArgs) -> str | None:
    """``deliver JOB_ID``: a single argument that names a job (and no file)."""
    if len(args.files) == 1 and _JOB_ID.match(str(args.files[0])) and not args.files[0].exists():
        return str(args.files[0])
    return None


async def deliver_job(
    job_id: str, args: DeliverArgs, settings: Settings, report: Report
) -> ExitCode:
    """A job's exports, each photo delivered once (recorded in the job store)."""
    if args.overwrite or args.private:
        raise UsageError("--overwrite and --private are for files; a job's deliveries use neither")
    spec = DeliverySpec(to=_target(args.to), folder=args.folder, tags=list(_tags(args.tags)))
    async with JobEngine.open(settings, resume=False, logger=command_logger(report.err)) as engine:
        try:
            await engine.deliver(job_id, spec)
        except JobNotFound as exc:
            raise UsageError(f"{exc}; `{program_name()} jobs list` shows the jobs") from None
        except (JobConflict, JobRequestError) as exc:
            raise UsageError(str(exc)) from None
        view = await engine.join(job_id)
        photos = (await engine.photos(job_id, settings=False)).photos
    rows = [
        {"index": p.index, "path": p.path, **d.model_dump()}
        for p in photos
        for d in p.deliveries
        if d.target == spec.to
    ]
    failed = [r for r in rows if not r["ok"]]
    code = ExitCode.OK if view.state is JobState.DONE and not failed else ExitCode.FAILED
    if not report.as_json:
        table = Table("photo", "status", "url")
        for row in rows:
            shown = row["status"] if row["ok"] else f"failed: {row['error']}"
            table.add_row(escape(row["path"]), escape(shown), escape(row["url"] or ""))
        report.out.print(table)
    return report.result(code, {"target": spec.to, "job_id": job_id, "results": rows})


async def deliver_flow(args: DeliverArgs, settings: Settings, report: Report) -> ExitCode:
    """Check, deliver, report; with ``--json`` one document ``{"ok", "target", "results"}``."""
    job_id = job_id_of(args)
    if job_id is not None:
        return await deliver_job(job_id, args, settings, report)
    err = report.err
    finished: list[DeliveryResult] = []
    try:
        target = _target(args.to)
        options = _options(args, settings, target)
        items = [DeliveryItem(path) for path in args.files]
        logger = command_logger(err)
        report.partial(lambda: {"target": target, "results": [r.to_json() for r in finished]})
        async with _emulated(target, settings, err) as emulator_url:
            client = open_client(
                settings, target, emulator_url=emulator_url, options=options,
                concurrency=args.concurrency, logger=logger,
            )  # fmt: skip
            async with client:
                check_all(client, items)
                if isinstance(client, ImagekitClient):
                    _say_changes(err, [c for item in items for c in client.changes_for(item)])
                with _Progress(err, items, finished) as progress:
                    results = await deliver_all(
                        client, items, concurrency=args.concurrency, on_event=progress
                    )
    except DeliveryRefused as refused:
        err.print("[red]Error:[/red] nothing was delivered:", highlight=False)
        for problem in refused.problems:
            err.print(f"  {escape(problem)}", highlight=False)
        return report.error_json(ErrorKind.USAGE, "nothing was delivered: " + refused.message)
    except DeliveryAuthError as exc:
        return report.error(ErrorKind.AUTH, exc.message)
    except DeliveryError as exc:
        return report.error(ErrorKind.FAILED, exc.message)
    failed = [r for r in results if not r.ok]
    code = ExitCode.FAILED if failed else ExitCode.OK
    if failed:
        err.print(f"{len(failed)} of {len(results)} files were not delivered.", style="red")
    if not report.as_json:
        _table(results, report.out)
    return report.result(code, {"target": target, "results": [r.to_json() for r in results]})


def deliver_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Exported files (JPEGs) to deliver, or one job id (its exports).",
            show_default=False,
        ),
    ],
    to: Annotated[str, typer.Option("--to", help="imgwire or imagekit.", show_default=False)],
    folder: Annotated[
        str | None,
        typer.Option("--folder", help="ImageKit folder, e.g. /Weddings/2026 (default /)."),
    ] = None,
    tags: Annotated[
        list[str] | None, typer.Option("--tags", help="ImageKit tags: a comma list (repeatable).")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="ImageKit: replace a file at the same path (a new version)."
        ),
    ] = False,
    private: Annotated[bool, typer.Option("--private", help="ImageKit: a private file.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=32, help="Files uploading at once.")
    ] = 4,
) -> None:
    """Deliver exported photos to Imgwire or ImageKit, each exactly once."""
    args = DeliverArgs(
        files=files, to=to, folder=folder, tags=tuple(tags or ()), overwrite=overwrite,
        private=private, json=json_output, concurrency=concurrency,
    )  # fmt: skip
    report = Report(as_json=json_output)

    async def flow() -> ExitCode:
        return await deliver_flow(args, load_settings(), report)

    raise typer.Exit(run_command(flow(), report))
