"""``imagen-bridge edit``: validate, edit on Imagen (or the emulator), download the outputs.

Outputs land in an output folder (by default ``./imagen-output/<date_time>``)
that must be new or empty, so nothing of the photographer's is overwritten;
when the photos had to be spread over several Imagen projects (same names in
different folders, RAW and JPEG), each project gets a ``project-N`` subfolder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bridge.commands.console import ExitCode, UsageError, command_logger, plural, program_name
from bridge.commands.exits import Report, run_command
from bridge.commands.progress_view import ProgressView
from bridge.commands.session import notice_on
from bridge.emulator.app import EmulatorConfig
from bridge.imagen import ImagenValidationError, PhotographyType, Profile
from bridge.jobs.book import JobBook
from bridge.jobs.engine import JobEngine, room_needed
from bridge.jobs.models import (
    MAX_PHOTOS,
    SMART_TOOLS,
    JobSpec,
    JobView,
    PhotoState,
    PhotoView,
    Tools,
)
from bridge.jobs.options import HDR_EXPECTATION, SMART_EXPECTATION, expectation_for, tool_options
from bridge.jobs.plan import (
    ImageKind,
    Photo,
    PhotoSet,
    PlanError,
    SkippedFile,
    find_photos,
    refuse_other_kinds,
)
from bridge.settings import Settings, load_settings
from bridge.xmp.sidecar import Naming

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
    jpeg_profile: str | None = None
    naming: Literal["adobe", "darktable"] = "adobe"
    quiet: bool = False


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


def choose_out_dir(out: Path | None, *, now: datetime | None = None) -> tuple[Path, bool]:
    """The output folder, and whether it was created here (to remove it if the run never
    starts): ``out`` if it is new or empty, by default a fresh ``./imagen-output/<date_time>``.

    The folder is created now, exclusively for the default, so two runs started in the same
    second never share one and a folder that cannot be written is refused before any upload.
    """
    if out is None:
        stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H%M%S")
        parent = Path.cwd() / DEFAULT_OUT_PARENT
        _make_dirs(parent, "the default output folder")
        for n in range(1, 1000):
            candidate = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise UsageError(f"Cannot create {candidate}: {exc.strerror or exc}") from None
            return candidate, True
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
        if not os.access(out, os.W_OK | os.X_OK):
            raise UsageError(f"--out {out} cannot be written (permission denied)")
        return out, False
    _make_dirs(out, "--out")
    return out, True


def _make_dirs(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{what} {folder} cannot be created: {exc.strerror or exc}") from None


def check_room(out_dir: Path, photos: PhotoSet, *, images: bool, export: bool) -> None:
    """Refuse an output folder on a disk too full for the outputs, before any upload."""
    free = shutil.disk_usage(out_dir).free
    need = room_needed(
        ((p.kind is ImageKind.JPEG or p.is_dng, p.size) for p in photos),
        images=images,
        export=export,
    )
    if free < need:
        raise UsageError(
            f"Only {free // 2**20} MB free for {out_dir}; the outputs of {len(photos)} photos "
            f"need about {need // 2**20} MB. Free some space or choose another --out."
        )


def pair_jpegs(photos: PhotoSet) -> tuple[PhotoSet, list[SkippedFile]]:
    """RAW+JPEG pairs (same folder, same name), as Lightroom treats them: one photo, the RAW.

    The JPEG of a pair is skipped; JPEGs without a RAW stay.
    """
    raws: dict[Path, set[str]] = {}
    for photo in photos:
        if photo.kind is ImageKind.RAW:
            raws.setdefault(photo.path.parent, set()).add(photo.stem_key)
    paired = {
        i
        for i, photo in enumerate(photos)
        if photo.kind is ImageKind.JPEG and photo.stem_key in raws.get(photo.path.parent, ())
    }
    if not paired:
        return photos, []
    reason = "the JPEG of a RAW+JPEG pair; its RAW is edited"
    skipped = [SkippedFile(Path(photos.paths[i]), reason) for i in sorted(paired)]
    return photos.without(paired), skipped


def refuse_shared_sidecars(photos: PhotoSet) -> None:
    """Two raws of one folder named alike would share one Adobe sidecar: say so first.

    Stem keys only on the first pass (a folder may hold 20,000); names once a clash is seen.
    """
    keys: dict[Path, set[str]] = {}
    clashing: set[tuple[Path, str]] = set()
    for photo in _sidecar_raws(photos):
        folder = keys.setdefault(photo.path.parent, set())
        if photo.stem_key in folder:
            clashing.add((photo.path.parent, photo.stem_key))
        folder.add(photo.stem_key)
    if not clashing:
        return
    first: dict[tuple[Path, str], Path] = {}
    problems = []
    for photo in _sidecar_raws(photos):
        key = (photo.path.parent, photo.stem_key)
        if key not in clashing:
            continue
        other = first.setdefault(key, photo.path)
        if other != photo.path:
            problems.append(
                f"{photo.path}: {other.name} and {photo.path.name} would share the sidecar "
                f"{other.stem}.xmp"
            )
    raise PlanError(
        problems,
        hint="Edit them with --no-merge (outputs only) or --naming darktable "
        "(IMG_1.CR2.xmp), or move one of each pair to another folder.",
    )


def _sidecar_raws(photos: PhotoSet) -> Iterator[Photo]:
    """The photos that get an Adobe sidecar (``STEM.xmp``): raws, not DNGs."""
    return (p for p in photos if p.kind is ImageKind.RAW and not p.is_dng)


def resolve_profile(profiles: Sequence[Profile], wanted: str, kinds: set[ImageKind]) -> Profile:
    """A profile by key, or by exact name (ignoring case); when a RAW and a JPG profile share
    the name, the photos' kind picks (a RAW+JPEG shoot: the RAW one; see :func:`profiles_for`)."""
    text = wanted.strip()
    if text.isdigit():
        for profile in profiles:
            if profile.profile_key == int(text):
                return profile
        raise UsageError(f"No profile with key {text}. `imagen-bridge profiles` lists yours.")
    named = [p for p in profiles if (p.profile_name or "").casefold() == text.casefold()]
    if len(named) > 1:
        wanted_kind = ImageKind.RAW if ImageKind.RAW in kinds else ImageKind.JPEG
        fitting = [p for p in named if (p.image_type or "").upper() == wanted_kind.value]
        named = fitting if len(fitting) == 1 else named
    if len(named) == 1:
        return named[0]
    if not named:
        raise UsageError(f"No profile named {wanted!r}. `imagen-bridge profiles` lists yours.")
    keys = ", ".join(f"{p.profile_key} ({p.image_type or '?'})" for p in named)
    raise UsageError(f"Several profiles are named {wanted!r}: {keys}; pass the key instead.")


def profiles_for(
    profiles: Sequence[Profile], args: EditArgs, photos: PhotoSet
) -> tuple[Profile, Profile | None]:
    """The profile for the raws (or the only kind), and the one for JPEGs beside raws.

    JPEGs beside raws take ``--jpeg-profile``, else the JPG profile of the name given as
    ``--profile`` (Imagen names its RAW and JPG variants alike); a profile given by key
    edits its own kind only, and photos of the other kind are refused.
    """
    assert args.profile is not None
    kinds = {photo.kind for photo in photos}
    main = resolve_profile(profiles, args.profile, kinds)
    jpeg: Profile | None = None
    if args.jpeg_profile is not None:
        jpeg = resolve_profile(profiles, args.jpeg_profile, {ImageKind.JPEG})
        if (jpeg.image_type or "").upper() != ImageKind.JPEG.value:
            raise UsageError(f"--jpeg-profile {args.jpeg_profile} is not a JPG profile")
    elif kinds == {ImageKind.RAW, ImageKind.JPEG} and not args.profile.strip().isdigit():
        jpeg = next(
            (
                p
                for p in profiles
                if (p.profile_name or "").casefold() == args.profile.strip().casefold()
                and (p.image_type or "").upper() == ImageKind.JPEG.value
            ),
            None,
        )
    main_kind = expectation_for(main)
    if args.tools and "hdr_merge" in args.tools and main_kind and main_kind.kind is ImageKind.JPEG:
        raise UsageError(
            f"--hdr-merge needs a RAW profile; {main.profile_name or main.profile_key} is a JPG "
            "profile (Smart Editing, --smart --hdr-merge, merges JPEG brackets)"
        )
    if jpeg is not None and main_kind is not None and main_kind.kind is ImageKind.JPEG:
        jpeg = None  # a JPG profile edits the JPEGs itself
    for expect in (main_kind, expectation_for(jpeg) if jpeg else None):
        if expect is not None and jpeg is None:
            refuse_other_kinds(photos, expect)
    return main, jpeg


OUTCOME_PAGE = 500
"""Photos read at a time to sum up a job: a 20,000-photo job is never held whole."""


@dataclass(frozen=True, slots=True)
class Notable:
    """A photo the summary names: failed, merged into an HDR, or its sidecar not written."""

    path: str
    failed: str | None = None
    """Why it was not edited (failed photos only)."""
    hdr_output: str | None = None
    sidecar: tuple[str, str] | None = None
    """(refused or failed, why) when its sidecar was not written."""


@dataclass(frozen=True)
class EditOutcome:
    """A finished (or interrupted) edit job, summed up from its photos page by page."""

    job: JobView
    notable: tuple[Notable, ...]
    unfinished: Mapping[str, int]
    """Photos neither edited nor failed (canceled, or still on their way), by state:
    counted, not listed, as an interrupted 20,000-photo job has that many."""
    sidecars: Mapping[str, int]
    """Photos by sidecar merge status (created, updated, unchanged, refused, failed)."""
    projects: int
    first_output: str | None
    """The first output of the first edited photo (the demo shows its settings)."""
    photos: tuple[dict[str, object], ...] = ()
    """Every photo as ``--json`` prints it; only collected when asked for."""
    skipped: tuple[SkippedFile, ...] = ()
    """Files given that are not sent: non-photos in folders, the JPEGs of RAW+JPEG pairs."""

    @property
    def merge_id(self) -> str | None:
        """What ``undo`` takes, once a sidecar was written (None: nothing to undo)."""
        written = self.sidecars.get("created", 0) + self.sidecars.get("updated", 0)
        return self.job.merge_id if written else None

    @property
    def ok(self) -> bool:
        """Every photo edited and every sidecar merged (nothing refused or failed)."""
        edited = self.job.counts.ready + self.job.counts.applied
        return edited == self.job.photos_total and not (
            self.sidecars.get("refused") or self.sidecars.get("failed")
        )


def _notable(photo: PhotoView) -> Notable | None:
    sidecar = photo.sidecar
    refused = sidecar is not None and sidecar.status in ("refused", "failed")
    failed = photo.state is PhotoState.FAILED
    if not (failed or photo.hdr_output or refused):
        return None
    return Notable(
        photo.path,
        failed=(photo.reason or "") if failed else None,
        hdr_output=photo.hdr_output,
        sidecar=(sidecar.status, sidecar.reason or "") if sidecar is not None and refused else None,
    )


async def collect_outcome(
    book: JobBook, job_id: str, skipped: Sequence[SkippedFile] = (), *, every: bool = False
) -> EditOutcome:
    """The job's outcome; ``every`` also keeps each photo as ``--json`` prints it."""
    job = await book.get(job_id)
    notable: list[Notable] = []
    unfinished: Counter[str] = Counter()
    sidecars: Counter[str] = Counter()
    projects: set[int] = set()
    first_output: str | None = None
    photos: list[dict[str, object]] = []
    after = -1
    while page := (
        await book.photos(job_id, settings=False, after=after, limit=OUTCOME_PAGE)
    ).photos:
        after = page[-1].index
        for photo in page:
            if photo.project is not None:
                projects.add(photo.project)
            if photo.sidecar is not None:
                sidecars[photo.sidecar.status] += 1
            edited = photo.state in (PhotoState.READY, PhotoState.APPLIED)
            if first_output is None and edited and photo.outputs:
                first_output = photo.outputs[0]
            if not edited and photo.state is not PhotoState.FAILED:
                unfinished[photo.state.value] += 1
            elif (found := _notable(photo)) is not None:
                notable.append(found)
            if every:
                photos.append(_photo_json(photo))
    return EditOutcome(
        job, tuple(notable), dict(unfinished), dict(sidecars), len(projects), first_output,
        tuple(photos), tuple(skipped),
    )  # fmt: skip


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
    tools = tools_of(args)
    try:
        photography_type = (
            PhotographyType.parse(args.photography_type).value if args.photography_type else None
        )
    except ImagenValidationError as exc:
        raise UsageError(f"--type: {exc}") from None
    out_dir, created = choose_out_dir(args.out)
    try:
        return await _edit_in(
            out_dir, args, tools, photography_type, settings, report, demo=demo, emulator=emulator
        )
    except (UsageError, PlanError):
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if still empty: the run never started
        raise


def _plan(args: EditArgs, tools: Tools) -> tuple[PhotoSet, list[SkippedFile]]:
    """The photos to send, checked; and the files given that are not sent."""
    expect = SMART_EXPECTATION if args.smart else (HDR_EXPECTATION if tools.hdr_merge else None)
    photos = find_photos(
        args.paths, expect=expect, recursive=args.recursive, keep_folders_together=tools.hdr_merge
    )
    photos, paired = pair_jpegs(photos)
    if len(photos) > MAX_PHOTOS:
        raise UsageError(
            f"{len(photos):,} photos given; a job takes at most {MAX_PHOTOS:,}. Edit them in "
            "several runs (a folder at a time, say)."
        )
    if args.merge and args.naming == "adobe":
        refuse_shared_sidecars(photos)
    return photos, [*photos.skipped, *paired]


async def _edit_in(
    out_dir: Path,
    args: EditArgs,
    tools: Tools,
    photography_type: str | None,
    settings: Settings,
    report: Report,
    *,
    demo: bool,
    emulator: EmulatorConfig | None,
) -> tuple[ExitCode, EditOutcome]:
    photos, skipped = _plan(args, tools)
    check_room(out_dir, photos, images=args.smart or tools.hdr_merge, export=args.export)
    err = report.err
    for item in skipped:
        err.print(f"skipped {escape(str(item.path))}: {escape(item.reason)}")
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
        profile_key = jpeg_key = None
        if not args.smart:
            main, jpeg = profiles_for(await engine.profiles(), args, photos)
            profile_key = main.profile_key
            jpeg_key = jpeg.profile_key if jpeg else None
        try:
            spec = JobSpec(
                profile_key=profile_key,
                jpeg_profile_key=jpeg_key,
                photography_type=photography_type,
                tools=tools,
                smart=args.smart,
                export=args.export,
                merge=args.merge,
                naming=args.naming,
                md5=args.md5,
                out_dir=str(out_dir),
            )
        except ValidationError as exc:
            raise UsageError(_in_flags(_first_problem(exc))) from None
        summary = photos.summary(keep_folders_together=tools.hdr_merge)
        job, _ = await engine.create(spec, photos.paths, start=False)
        del photos  # the job's store holds them now: the run keeps a few projects' worth
        try:
            with ProgressView(err, summary, quiet=args.quiet) as view:
                engine.watch(job.id, view)
                engine.start(job.id)
                job = await engine.join(job.id)
        except asyncio.CancelledError:
            await engine.stop()
            stopped = await collect_outcome(engine, job.id, skipped, every=args.json)
            report.partial(lambda: summary_json(stopped))
            if not args.json:
                print_summary(stopped, out=report.out)
            err.print(
                f"Interrupted. What is done is kept: `{program_name()} jobs resume {job.id}` "
                "goes on from where this run stopped.",
                highlight=False,
            )
            raise
        outcome = await collect_outcome(engine, job.id, skipped, every=args.json)
    code = ExitCode.OK if outcome.ok else ExitCode.FAILED
    if args.json:
        report.result(code, summary_json(outcome))
    else:
        print_summary(outcome, out=report.out)
    return code, outcome


_STATUS_WORDS = {PhotoState.READY: "edited", PhotoState.APPLIED: "edited"}


def _photo_json(p: PhotoView) -> dict[str, object]:
    return {
        "path": p.path,
        "project": p.project,
        "status": _STATUS_WORDS.get(
            p.state, "failed" if p.state is PhotoState.FAILED else "cancelled"
        ),
        "outputs": p.outputs,
        "exports": p.exports,
        "hdr_output": p.hdr_output,
        "error": p.reason,
        "sidecar": p.sidecar.model_dump() if p.sidecar else None,
    }


def summary_json(outcome: EditOutcome) -> dict[str, object]:
    """The run as ``--json`` prints it: every photo, its outputs and its sidecar."""
    job = outcome.job
    return {
        "job_id": job.id,
        "out_dir": job.out_dir,
        "projects": outcome.projects,
        "edited": job.counts.ready + job.counts.applied,
        "failed": job.counts.failed,
        "cancelled": job.counts.canceled + sum(
            getattr(job.counts, s) for s in ("queued", "uploading", "editing", "downloading")
        ),
        "photos": list(outcome.photos),
        "skipped": [{"path": str(f.path), "reason": f.reason} for f in outcome.skipped],
        "unmatched_outputs": job.unmatched_outputs,
        "merge_id": outcome.merge_id,
    }  # fmt: skip


def print_summary(outcome: EditOutcome, *, out: Console) -> None:
    """The run for people: counts, where the outputs are, every photo that did not make it."""
    job = outcome.job
    edited = job.counts.ready + job.counts.applied
    total = job.photos_total
    style = "green" if outcome.ok else "red"
    out.print(f"[{style}]Edited {edited} of {total} photos.[/{style}]", highlight=False)
    if edited:
        out.print(f"Outputs: {escape(job.out_dir)}", highlight=False)
    for photo in outcome.notable:
        if photo.failed is not None:
            out.print(f"  failed: {escape(photo.path)}: {escape(photo.failed)}", highlight=False)
        elif photo.hdr_output:
            out.print(f"  HDR merge: {escape(photo.path)} -> {escape(photo.hdr_output)}")
    if outcome.unfinished:
        count = sum(outcome.unfinished.values())
        states = ", ".join(f"{state} {n}" for state, n in sorted(outcome.unfinished.items()))
        out.print(f"  not edited: {plural(count, 'photo')} ({states})", highlight=False)
    if outcome.skipped:
        count = len(outcome.skipped)
        out.print(f"  skipped {plural(count, 'file')} (listed above: not sent)", highlight=False)
    for extra in job.unmatched_outputs:
        out.print(f"  kept an output that matches no photo: {escape(extra)}")
    _print_merge(outcome, out)


def _print_merge(outcome: EditOutcome, out: Console) -> None:
    if not outcome.sidecars:
        return
    words = ", ".join(f"{n} {status}" for status, n in outcome.sidecars.items())
    out.print(f"Sidecars next to your photos: {words}.", highlight=False)
    for photo in outcome.notable:
        if photo.sidecar is not None:
            status, reason = photo.sidecar
            out.print(f"  {status}: {escape(photo.path)}: {escape(reason)}", highlight=False)
    if outcome.merge_id:
        out.print(
            f"Undo with: {program_name()} undo {outcome.merge_id}", highlight=False, markup=False
        )


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
    jpeg_profile: Annotated[
        str | None,
        typer.Option(
            "--jpeg-profile",
            help="Profile for JPEGs that are not the JPEG of a RAW+JPEG pair (default: the JPG "
            "profile named like --profile).",
        ),
    ] = None,
    naming: Annotated[
        Naming,
        typer.Option(
            "--naming",
            help="Sidecar names: adobe (IMG_1.xmp, Lightroom) or darktable (IMG_1.CR2.xmp).",
        ),
    ] = Naming.ADOBE,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress; only failures and the summary.")
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
        jpeg_profile=jpeg_profile,
        naming=naming.value,
        quiet=quiet,
    )
    report = Report(as_json=json_output)

    async def flow() -> ExitCode:
        code, _ = await edit_flow(args, load_settings(), report=report)
        return code

    raise typer.Exit(run_command(flow(), report))
