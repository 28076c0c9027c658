"""``imagen-bridge jobs``: look at, wait for, cancel, retry and resume durable jobs.

``list``, ``show``, ``wait`` and ``cancel`` only read and steer the job store, so
they work beside a running ``serve`` or ``edit`` (a cancel is handed to the
process that drives the job). ``resume`` and ``retry`` drive the job here,
unless another live process already does; then they follow it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridge.commands.console import ExitCode, UsageError, command_logger, program_name
from bridge.commands.edit import EditOutcome, collect_outcome, print_summary, summary_json
from bridge.commands.exits import Report, run_command
from bridge.commands.session import notice_on
from bridge.jobs.book import JobBook
from bridge.jobs.engine import JobEngine
from bridge.jobs.errors import JobConflict, JobNotFound
from bridge.jobs.models import JobState, JobView
from bridge.settings import load_settings

app = typer.Typer(
    name="jobs",
    help="Look at, wait for, cancel, retry and resume edit jobs.",
    no_args_is_help=True,
    add_completion=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
JobId = Annotated[str, typer.Argument(help="The job id (`imagen-bridge jobs list` shows them).")]


def _ended(view: JobView) -> int:
    counts = view.counts
    return counts.ready + counts.applied + counts.failed + counts.canceled


def _job_table(jobs: list[JobView]) -> Table:
    table = Table()
    for name in ("job", "state", "photos done", "created", "label"):
        table.add_column(name, overflow="fold")
    for job in jobs:
        table.add_row(
            job.id,
            job.state.value,
            f"{_ended(job)}/{job.photos_total}",
            job.created_at,
            escape(job.label or ""),
        )
    return table


@app.command("list")
def list_command(
    state: Annotated[
        list[JobState] | None, typer.Option("--state", help="Only jobs in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The newest jobs, with their state and how many photos are done."""
    report = Report(as_json=as_json)

    async def flow() -> ExitCode:
        async with JobBook.open_book(load_settings()) as book:
            listed = await book.list_jobs(state or (), limit=limit)
        if as_json:
            return report.result(ExitCode.OK, listed.model_dump(mode="json"))
        if listed.jobs:
            report.out.print(_job_table(listed.jobs))
        else:
            report.err.print("No jobs yet: `edit` and `serve` make them.", highlight=False)
        return ExitCode.OK

    raise typer.Exit(run_command(flow(), report))


@app.command("show")
def show_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """One job and each of its photos."""
    report = Report(as_json=as_json)
    out = report.out

    async def flow() -> ExitCode:
        async with JobBook.open_book(load_settings()) as book:
            view = await _get(book, job_id)
            photos = await book.photos(job_id, settings=False)
        if as_json:
            data = {"job": view.model_dump(mode="json"), **photos.model_dump(mode="json")}
            return report.result(ExitCode.OK, data)
        out.print(_job_table([view]))
        table = Table()
        for name in ("#", "photo", "state", "reason / sidecar"):
            table.add_column(name, overflow="fold")
        for photo in photos.photos:
            detail = photo.reason or (f"sidecar {photo.sidecar.status}" if photo.sidecar else "")
            table.add_row(str(photo.index), escape(photo.path), photo.state.value, escape(detail))
        out.print(table)
        return ExitCode.OK

    raise typer.Exit(run_command(flow(), report))


async def _get(book: JobBook, job_id: str) -> JobView:
    try:
        return await book.get(job_id)
    except JobNotFound as exc:
        raise UsageError(f"{exc}; `{program_name()} jobs list` shows the jobs") from None


async def _follow(book: JobBook, job_id: str, err: Console) -> JobView:
    """Wait for the job to end, drawing its progress; it may be driven by another process."""
    view = await _get(book, job_id)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[state]}"),
    )
    with Progress(*columns, console=err, transient=not err.is_terminal) as bar:
        task = bar.add_task(job_id, total=view.photos_total, state=view.state.value)
        while not view.state.ended:
            view = await book.wait(job_id, view.revision, 1.0)
            bar.update(task, completed=_ended(view), state=view.state.value)
    return view


def _exit_for(view: JobView, outcome: EditOutcome) -> ExitCode:
    return ExitCode.OK if view.state is JobState.DONE and outcome.ok else ExitCode.FAILED


async def _finish(book: JobBook, view: JobView, report: Report) -> ExitCode:
    outcome = await collect_outcome(book, view.id, every=report.as_json)
    code = _exit_for(view, outcome)
    if report.as_json:
        return report.result(code, summary_json(outcome))
    print_summary(outcome, out=report.out)
    return code


@app.command("wait")
def wait_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Wait until the job has ended, with a progress bar; exit 0 only if every photo made it."""
    report = Report(as_json=as_json)

    async def flow() -> ExitCode:
        async with JobBook.open_book(load_settings()) as book:
            view = await _follow(book, job_id, report.err)
            return await _finish(book, view, report)

    raise typer.Exit(run_command(flow(), report))


@app.command("cancel")
def cancel_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Cancel the job: transfers stop, photos not yet ready are canceled."""
    report = Report(as_json=as_json)

    async def flow() -> ExitCode:
        async with JobBook.open_book(load_settings()) as book:
            await _get(book, job_id)
            view = await book.cancel(job_id)
        code = ExitCode.OK if view.state.ended else ExitCode.FAILED
        if as_json:
            return report.result(code, {"job": view.model_dump(mode="json")})
        report.out.print(f"{job_id}: {view.state.value}", highlight=False)
        return code

    raise typer.Exit(run_command(flow(), report))


async def _drive(job_id: str, *, retry: bool, photos: list[int] | None, report: Report) -> ExitCode:
    err = report.err
    settings = load_settings()
    async with JobEngine.open(
        settings, resume=False, notice=notice_on(err), logger=command_logger(err)
    ) as engine:
        view = await _get(engine, job_id)
        if retry:
            try:
                view = await engine.retry(job_id, photos)
            except JobConflict as exc:
                raise UsageError(str(exc)) from None
        elif view.state.ended:
            raise UsageError(
                f"Job {job_id} has ended ({view.state.value}); `{program_name()} jobs retry "
                f"{job_id}` runs its failed and canceled photos again"
            )
        else:
            engine.start(job_id)
        try:
            await engine.join(job_id)
            view = await _follow(engine, job_id, err)  # another process may drive it
        except asyncio.CancelledError:
            await engine.stop()
            err.print(
                f"Interrupted. `{program_name()} jobs resume {job_id}` goes on.", markup=False
            )
            raise
        return await _finish(engine, view, report)


@app.command("resume")
def resume_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Go on with an interrupted job: finished uploads, edits and downloads are not repeated."""
    report = Report(as_json=as_json)
    raise typer.Exit(run_command(_drive(job_id, retry=False, photos=None, report=report), report))


@app.command("retry")
def retry_command(
    job_id: JobId,
    photo: Annotated[
        list[int] | None,
        typer.Option("--photo", help="Only this photo (its number in `jobs show`); repeatable."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run an ended job's failed and canceled photos again."""
    report = Report(as_json=as_json)
    raise typer.Exit(run_command(_drive(job_id, retry=True, photos=photo, report=report), report))
