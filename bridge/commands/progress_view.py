"""Draws an edit run's events on stderr: live bars on a terminal, plain lines otherwise.

Plain lines keep logs and CI output readable; they say the same things
(phase changes, finished files, failures) without redrawing.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from bridge.commands.console import plural
from bridge.jobs.events import (
    FileBytes,
    PhotoFinished,
    PhotoStatus,
    PhotoUploaded,
    ProjectPhase,
    RunEvent,
    ServerStatus,
)
from bridge.jobs.plan import PlanSummary

_PHASE_WORDS = {
    "create": "creating project",
    "upload": "uploading",
    "edit": "editing",
    "download": "downloading outputs",
    "export": "exporting JPEGs",
    "done": "done",
    "failed": "failed",
}


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


class ProgressView:
    """An event sink (call it with each RunEvent) that is also a context manager."""

    def __init__(
        self,
        console: Console,
        plan: PlanSummary,
        *,
        live: bool | None = None,
        quiet: bool = False,
    ) -> None:
        self._console = console
        self._quiet = quiet
        self._plan = plan
        # quiet: no bars, no lines; only failures (and the summary the command prints)
        self._live_mode = not quiet and (console.is_terminal if live is None else live)
        self._last_status: dict[tuple[int, str], str] = {}
        self._bars = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._overall = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}", markup=False),
            console=console,
        )
        self._photos_task = self._overall.add_task(
            "Photos", total=plan.photos, status=self._plan_words()
        )
        self._upload_task = self._bars.add_task("all uploads", total=plan.total_bytes)
        self._file_tasks: dict[tuple[int, str, str], TaskID] = {}
        self._uploaded: dict[tuple[int, str], int] = {}
        self._live = Live(
            Group(self._overall, self._bars), console=console, refresh_per_second=8, transient=False
        )

    def _plan_words(self) -> str:
        photos = plural(self._plan.photos, "photo")
        return f"{photos} in {plural(self._plan.projects, 'project')}"

    def __enter__(self) -> ProgressView:
        if self._live_mode:
            self._live.start()
        else:
            self._line(self._plan_words())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live_mode:
            self._live.stop()

    def __call__(self, event: RunEvent) -> None:
        match event:
            case ProjectPhase():
                self._phase(event)
            case ServerStatus():
                self._status(event)
            case FileBytes():
                self._bytes(event)
            case PhotoUploaded():
                # the store has it: forget its bytes (a job's files are many), not before,
                # as a try that is repeated starts again from zero
                self._uploaded.pop((event.project, event.name), None)
                if not self._live_mode:
                    self._line(f"uploaded {event.name} ({human_bytes(event.size)})")
            case PhotoFinished():
                self._finished(event)

    def _line(self, text: str) -> None:
        if not self._quiet:
            self._console.print(escape(text), highlight=False, soft_wrap=True)

    def _phase(self, event: ProjectPhase) -> None:
        words = _PHASE_WORDS[event.phase] + (f": {event.detail}" if event.detail else "")
        text = f"project {event.project}: {words}"
        if self._live_mode:
            self._overall.update(self._photos_task, status=text)
        else:
            self._line(text)

    def _status(self, event: ServerStatus) -> None:
        percent = f" {event.progress:.0f}%" if event.progress is not None else ""
        text = f"project {event.project}: {event.step} {event.status}{percent}"
        key = (event.project, event.step)
        if self._last_status.get(key) == text:
            return
        self._last_status[key] = text
        if self._live_mode:
            self._overall.update(self._photos_task, status=text)
        else:
            self._line(text)

    def _bytes(self, event: FileBytes) -> None:
        if event.direction == "upload":
            key = (event.project, event.name)
            moved = event.done - self._uploaded.get(key, 0)
            self._uploaded[key] = event.done
            self._bars.advance(self._upload_task, moved)
        if not self._live_mode:
            return  # plain lines name a file once the store accepted it (PhotoUploaded)
        task_key = (event.project, event.direction, event.name)
        task = self._file_tasks.get(task_key)
        if task is None:
            arrow = "↑" if event.direction == "upload" else "↓"
            task = self._bars.add_task(f"{arrow} {event.name}", total=event.total or None)
            self._file_tasks[task_key] = task
        self._bars.update(task, completed=event.done, total=event.total or None)
        if event.done >= event.total:
            self._bars.remove_task(task)
            del self._file_tasks[task_key]

    def _finished(self, event: PhotoFinished) -> None:
        result = event.result
        self._overall.advance(self._photos_task)
        if result.status is PhotoStatus.FAILED:
            self._console.print(
                f"[red]failed[/red] {escape(str(result.photo.path))}: {escape(result.error or '')}",
                highlight=False,
                soft_wrap=True,
            )
