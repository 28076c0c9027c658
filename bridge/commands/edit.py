"""``imagen-bridge edit``: validate, edit on Imagen (or the emulator), download the outputs.

Outputs land in an output folder (by default ``./imagen-output/<date_time>``)
that must be new or empty, so nothing of the photographer's is overwritten;
when the photos had to be spread over several Imagen projects (same names in
different folders, RAW and JPEG), each project gets a ``project-N`` subfolder.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bridge.commands.console import ExitCode, UsageError, command_logger
from bridge.commands.exits import Report, run_command
from bridge.commands.progress_view import ProgressView
from bridge.commands.session import notice_on
from bridge.emulator.app import EmulatorConfig
from bridge.imagen import ImagenValidationError, PhotographyType, Profile
from bridge.jobs.engine import JobEngine
from bridge.jobs.models import (
    SMART_TOOLS,
    JobRequest,
    JobView,
    PhotoRequest,
    PhotoState,
    PhotoView,
    Tools,
)
from bridge.jobs.options import SMART_EXPECTATION, expectation_for, tool_options
from bridge.jobs.plan import Plan, plan_edit, refuse_other_kinds
from bridge.settings import Settings, load_settings

DEFAULT_OUT_PARENT = "imagen-output"
TOOL_SWITCHES = tuple(name for name, info in Tools.model_fields.items() if info.annotation is bool)
"""The on/off AI tools, as the job request names them (``--crop``, ``--subject-mask``...)."""


@dataclass(frozen=True)
class EditArgs:
    """The ``edit`` command line, parsed but not yet checked against Imagen."""

    paths: Sequence[Path]
    profile: str | None = None
    photography_type: str | None = None
    tools: frozenset[str] = frozenset()
    crop_aspect_ratio: str | None = None
    sky_template: int | None = None
    smart: bool = False
    export: bool = False
    out: Path | None = None
    recursive: bool = False
    json: bool = False
    merge: bool = True
    concurrency: int = 8
    md5: bool = False


def flag(tool: str) -> str:
    return "--" + tool.replace("_", "-")


_FLAG_NAMES = {
    "profile_key": "--profile",
    "photography_type": "--type",
    "crop_aspect_ratio": "--crop-aspect-ratio",
    "sky_template": "--sky-template",
    "sky_replacement_template_id": "--sky-template",
    "smart": "--smart",
    "export": "--export",
    **{tool: flag(tool) for tool in TOOL_SWITCHES},
}


def _in_flags(message: str) -> str:
    """A request-level message in the words of the command line (``--straighten``)."""
    for name in sorted(_FLAG_NAMES, key=len, reverse=True):
        message = re.sub(rf"(?<![\w-]){name}(?![\w-])", _FLAG_NAMES[name], message)
    return message


def tools_of(args: EditArgs) -> Tools:
    """The tools the flags ask for; contradictions are usage errors in flag words."""
    unknown = args.tools - set(TOOL_SWITCHES)
    if unknown:
        raise UsageError(f"Unknown tools: {', '.join(sorted(unknown))}")
    try:
        tools = Tools(
            **dict.fromkeys(args.tools, True),
            crop_aspect_ratio=args.crop_aspect_ratio,
            sky_template=args.sky_template,
        )
    except ValidationError as exc:
        raise UsageError(_in_flags(_first_problem(exc))) from None
    if args.smart:
        refused = [flag(t) for t in tools.enabled() if t not in SMART_TOOLS]
        refused += [
            name
            for name, given in (
                ("--profile", args.profile),
                ("--type", args.photography_type),
                ("--export", args.export),
                ("--crop-aspect-ratio", args.crop_aspect_ratio),
            )
            if given
        ]
        if refused:
            allowed = ", ".join(flag(t) for t in SMART_TOOLS)
            raise UsageError(
                f"{', '.join(refused)} cannot be used with --smart: Smart Editing takes no "
                f"profile and returns JPEGs directly; its tools are {allowed}."
            )
    elif not args.profile:
        raise UsageError(
            "--profile is required (a key or exact name; `imagen-bridge profiles` lists them), "
            "or use --smart for Smart Editing"
        )
    try:
        tool_options(tools, smart=args.smart)
    except ImagenValidationError as exc:
        raise UsageError(_in_flags(str(exc))) from None
    return tools


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


_IGNORABLE = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".localized"})
"""Files a desktop leaves in any folder it shows; an output folder holding only these is empty."""


def choose_out_dir(out: Path | None, *, now: datetime | None = None) -> Path:
    """``out`` if it is new or empty; by default a fresh ``./imagen-output/<date_time>``.

    The default folder is created here, exclusively, so two runs started in the same
    second never pick the same one.
    """
    if out is None:
        stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H%M%S")
        parent = Path.cwd() / DEFAULT_OUT_PARENT
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            candidate = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
        raise UsageError(f"Cannot find a free output folder name in {parent}")
    out = out.expanduser().absolute()
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder")
        if any(entry.name not in _IGNORABLE for entry in out.iterdir()):
            raise UsageError(
                f"--out {out} already holds files; choose a new or empty folder "
                "(nothing is ever overwritten)"
            )
    return out


def resolve_profile(profiles: Sequence[Profile], wanted: str, plan: Plan) -> Profile:
    """A profile by key, or by exact name (ignoring case); the photos' kind picks between
    a RAW and a JPG profile of the same name."""
    text = wanted.strip()
    if text.isdigit():
        for profile in profiles:
            if profile.profile_key == int(text):
                return profile
        raise UsageError(f"No profile with key {text}. `imagen-bridge profiles` lists yours.")
    named = [p for p in profiles if (p.profile_name or "").casefold() == text.casefold()]
    kinds = {photo.kind.value for photo in plan.photos}
    if len(named) > 1:
        fitting = [p for p in named if (p.image_type or "").upper() in kinds]
        named = fitting if len(fitting) == 1 else named
    if len(named) == 1:
        return named[0]
    if not named:
        raise UsageError(f"No profile named {wanted!r}. `imagen-bridge profiles` lists yours.")
    keys = ", ".join(f"{p.profile_key} ({p.image_type or '?'})" for p in named)
    raise UsageError(f"Several profiles are named {wanted!r}: {keys}; pass the key instead.")


@dataclass(frozen=True)
class EditOutcome:
    """A finished (or interrupted) edit job: the job and each of its photos."""

    job: JobView
    photos: tuple[PhotoView, ...]

    @property
    def merge_id(self) -> str | None:
        """What ``undo`` takes, once a sidecar was written (None: nothing to undo)."""
        written = any(p.sidecar and p.sidecar.status in ("created", "updated") for p in self.photos)
        return self.job.merge_id if written else None

    @property
    def ok(self) -> bool:
        """Every photo edited and every sidecar merged (nothing refused or failed)."""
        return all(
            p.state in (PhotoState.READY, PhotoState.APPLIED)
            and (p.sidecar is None or p.sidecar.status not in ("refused", "failed"))
            for p in self.photos
        )


async def edit_flow(
    args: EditArgs,
    settings: Settings,
    *,
    report: Report,
    demo: bool = False,
    emulator: EmulatorConfig | None = None,
) -> tuple[ExitCode, EditOutcome]:
    """Everything ``edit`` does after parsing; ``demo`` forces the emulator.

    Every local problem is found before the first network call; then the edit
    runs as a durable job, resumable with ``imagen-bridge jobs resume`` if it is
    interrupted.
    """
    err = report.err
    tools = tools_of(args)
    try:
        photography_type = (
            PhotographyType.parse(args.photography_type).value if args.photography_type else None
        )
    except ImagenValidationError as exc:
        raise UsageError(f"--type: {exc}") from None
    expect = SMART_EXPECTATION if args.smart else None
    plan = plan_edit(
        args.paths, expect=expect, recursive=args.recursive, keep_folders_together=tools.hdr_merge
    )
    for skipped in plan.skipped:
        err.print(f"skipped {escape(str(skipped.path))}: {escape(skipped.reason)}")
    out_dir = choose_out_dir(args.out)
    logger = command_logger(err)
    async with JobEngine.open(
        settings,
        resume=False,
        notice=notice_on(err),
        logger=logger,
        demo=demo,
        emulator=emulator,
        transfers=args.concurrency,
    ) as engine:
        profile_key = None
        if not args.smart:
            assert args.profile is not None
            profile = resolve_profile(await engine.profiles(), args.profile, plan)
            profile_key = profile.profile_key
            kind = expectation_for(profile)
            if kind is not None:
                refuse_other_kinds(plan, kind)
        try:
            request = JobRequest(
                photos=[PhotoRequest(path=str(photo.path)) for photo in plan.photos],
                profile_key=profile_key,
                photography_type=photography_type,
                tools=tools,
                smart=args.smart,
                export=args.export,
                merge=args.merge,
                md5=args.md5,
                out_dir=str(out_dir),
            )
        except ValidationError as exc:
            raise UsageError(_in_flags(_first_problem(exc))) from None
        job, _ = await engine.create(request, start=False)
        try:
            with ProgressView(err, plan) as view:
                engine.watch(job.id, view)
                engine.start(job.id)
                job = await engine.join(job.id)
        except asyncio.CancelledError:
            await engine.stop()
            stopped = await _outcome(engine, job.id)
            report.partial(lambda: summary_json(stopped))
            if not args.json:
                print_summary(stopped, out=report.out)
            err.print(
                f"Interrupted. What is done is kept: `imagen-bridge jobs resume {job.id}` "
                "goes on from where this run stopped.",
                highlight=False,
            )
            raise
        outcome = await _outcome(engine, job.id)
    code = ExitCode.OK if outcome.ok else ExitCode.FAILED
    if args.json:
        report.result(code, summary_json(outcome))
    else:
        print_summary(outcome, out=report.out)
    return code, outcome


async def _outcome(engine: JobEngine, job_id: str) -> EditOutcome:
    photos = await engine.photos(job_id, settings=False)
    return EditOutcome(await engine.get(job_id), tuple(photos.photos))


_STATUS_WORDS = {PhotoState.READY: "edited", PhotoState.APPLIED: "edited"}


def summary_json(outcome: EditOutcome) -> dict[str, object]:
    """The run as ``--json`` prints it: every photo, its outputs and its sidecar."""
    job = outcome.job
    return {
        "job_id": job.id,
        "out_dir": job.out_dir,
        "projects": len({p.project for p in outcome.photos if p.project is not None}),
        "edited": job.counts.ready + job.counts.applied,
        "failed": job.counts.failed,
        "cancelled": job.counts.canceled + sum(
            getattr(job.counts, s) for s in ("queued", "uploading", "editing", "downloading")
        ),
        "photos": [
            {
                "path": p.path,
                "project": p.project,
                "status": _STATUS_WORDS.get(p.state, "failed" if p.state is PhotoState.FAILED
                                            else "cancelled"),
                "outputs": p.outputs,
                "exports": p.exports,
                "hdr_output": p.hdr_output,
                "error": p.reason,
                "sidecar": p.sidecar.model_dump() if p.sidecar else None,
            }
            for p in outcome.photos
        ],
        "unmatched_outputs": job.unmatched_outputs,
        "merge_id": outcome.merge_id,
    }  # fmt: skip


def print_summary(outcome: EditOutcome, *, out: Console) -> None:
    """The run for people: counts, where the outputs are, every photo that did not make it."""
    job = outcome.job
    edited = job.counts.ready + job.counts.applied
    total = len(outcome.photos)
    style = "green" if outcome.ok else "red"
    out.print(f"[{style}]Edited {edited} of {total} photos.[/{style}]", highlight=False)
    if edited:
        out.print(f"Outputs: {escape(job.out_dir)}", highlight=False)
    for photo in outcome.photos:
        if photo.state not in (PhotoState.READY, PhotoState.APPLIED):
            word = _STATUS_WORDS.get(photo.state, photo.state.value)
            out.print(
                f"  {word}: {escape(photo.path)}: {escape(photo.reason or '')}", highlight=False
            )
        elif photo.hdr_output:
            out.print(f"  HDR merge: {escape(photo.path)} -> {escape(photo.hdr_output)}")
    for extra in job.unmatched_outputs:
        out.print(f"  kept an output that matches no photo: {escape(extra)}")
    _print_merge(outcome, out)


def _print_merge(outcome: EditOutcome, out: Console) -> None:
    merged = [p for p in outcome.photos if p.sidecar is not None]
    if not merged:
        return
    counts: dict[str, int] = {}
    for photo in merged:
        assert photo.sidecar is not None
        counts[photo.sidecar.status] = counts.get(photo.sidecar.status, 0) + 1
    words = ", ".join(f"{n} {status}" for status, n in counts.items())
    out.print(f"Sidecars next to your photos: {words}.", highlight=False)
    for photo in merged:
        assert photo.sidecar is not None
        if photo.sidecar.status in ("refused", "failed"):
            out.print(
                f"  {photo.sidecar.status}: {escape(photo.path)}: "
                f"{escape(photo.sidecar.reason or '')}",
                highlight=False,
            )
    if outcome.merge_id:
        out.print(f"Undo with: imagen-bridge undo {outcome.merge_id}", highlight=False)


def edit_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Photos and folders of photos (RAW or JPEG); --recursive includes subfolders.",
            show_default=False,
        ),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", "-p", help="Profile key or exact name (see `imagen-bridge profiles`)."
        ),
    ] = None,
    photography_type: Annotated[
        str | None,
        typer.Option("--type", help="Photography type, e.g. WEDDING, PORTRAITS, REAL_ESTATE."),
    ] = None,
    crop: Annotated[bool, typer.Option("--crop", help="AI crop.")] = False,
    portrait_crop: Annotated[bool, typer.Option("--portrait-crop", help="Portrait crop.")] = False,
    headshot_crop: Annotated[bool, typer.Option("--headshot-crop", help="Headshot crop.")] = False,
    straighten: Annotated[bool, typer.Option("--straighten", help="Straighten horizons.")] = False,
    perspective_correction: Annotated[
        bool, typer.Option("--perspective-correction", help="Correct perspective (vertical lines).")
    ] = False,
    subject_mask: Annotated[
        bool, typer.Option("--subject-mask", help="Add a subject mask.")
    ] = False,
    smooth_skin: Annotated[bool, typer.Option("--smooth-skin", help="Smooth skin.")] = False,
    hdr_merge: Annotated[
        bool,
        typer.Option(
            "--hdr-merge", help="Merge brackets (each folder's frames stay in one project)."
        ),
    ] = False,
    window_pull: Annotated[
        bool, typer.Option("--window-pull", help="Window pull (real estate).")
    ] = False,
    sky_replacement: Annotated[
        bool, typer.Option("--sky-replacement", help="Replace skies.")
    ] = False,
    sky_template: Annotated[
        int | None, typer.Option("--sky-template", help="Sky template id for --sky-replacement.")
    ] = None,
    crop_aspect_ratio: Annotated[
        str | None, typer.Option("--crop-aspect-ratio", help="2X3, 4X5 or 5X7 (with a crop tool).")
    ] = None,
    smart: Annotated[
        bool, typer.Option("--smart", help="Smart Editing: JPEGs in, edited JPEGs out, no profile.")
    ] = False,
    export: Annotated[bool, typer.Option("--export", help="Also export edited JPEGs.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (new or empty). Default: ./imagen-output/<date_time>.",
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Include subfolders.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")
    ] = False,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge/--no-merge",
            help="Merge returned sidecars into the ones next to your RAW photos (journaled; "
            "`imagen-bridge undo` reverts).",
        ),
    ] = True,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Parallel transfers.")
    ] = 8,
    md5: Annotated[
        bool,
        typer.Option(
            "--md5",
            help="Send each file's MD5 so storage verifies every byte (costs one extra read "
            "of every file before it goes up).",
        ),
    ] = False,
) -> None:
    """Edit photos on Imagen and download the results into an output folder."""
    switches = {name: value for name, value in locals().items() if name in TOOL_SWITCHES}
    args = EditArgs(
        paths=paths,
        profile=profile,
        photography_type=photography_type,
        tools=frozenset(name for name, on in switches.items() if on),
        crop_aspect_ratio=crop_aspect_ratio,
        sky_template=sky_template,
        smart=smart,
        export=export,
        out=out,
        recursive=recursive,
        json=json_output,
        merge=merge,
        concurrency=concurrency,
        md5=md5,
    )
    report = Report(as_json=json_output)

    async def flow() -> ExitCode:
        code, _ = await edit_flow(args, load_settings(), report=report)
        return code

    raise typer.Exit(run_command(flow(), report))
