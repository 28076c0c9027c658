"""``imagen-bridge edit``: validate, edit on Imagen (or the emulator), download the outputs.

Outputs land in an output folder (by default ``./imagen-output/<date_time>``)
that must be new or empty, so nothing of the photographer's is overwritten;
when the photos had to be spread over several Imagen projects (same names in
different folders, RAW and JPEG), each project gets a ``project-N`` subfolder.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bridge.commands.console import ExitCode, UsageError, command_logger, consoles
from bridge.commands.exits import run_command
from bridge.commands.progress_view import ProgressView
from bridge.commands.session import imagen_client
from bridge.emulator.app import EmulatorConfig
from bridge.imagen import EditOptions, I2IEditOptions, ImagenClient, PhotographyType, Profile
from bridge.jobs.events import PhotoStatus, RunResult
from bridge.jobs.plan import Expectation, ImageKind, Plan, plan_edit, refuse_other_kinds
from bridge.jobs.runner import EditRequest, run_edit
from bridge.jobs.sidecars import merge_sidecars
from bridge.settings import Settings, load_settings
from bridge.xmp.batch import ItemStatus, MergeReport
from bridge.xmp.errors import XmpError

DEFAULT_OUT_PARENT = "imagen-output"
CLASSIC_TOOLS = (
    "crop",
    "portrait_crop",
    "headshot_crop",
    "straighten",
    "perspective_correction",
    "subject_mask",
    "smooth_skin",
    "hdr_merge",
    "window_pull",
    "sky_replacement",
)
SMART_TOOLS = ("hdr_merge", "sky_replacement", "perspective_correction")


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
    processing_timeout_s: float = 12 * 3600.0


def flag(tool: str) -> str:
    return "--" + tool.replace("_", "-")


def build_options(args: EditArgs) -> tuple[EditOptions, I2IEditOptions | None]:
    """The Imagen options the flags ask for; contradictions are usage errors."""
    unknown = args.tools - set(CLASSIC_TOOLS)
    if unknown:
        raise UsageError(f"Unknown tools: {', '.join(sorted(unknown))}")
    if args.sky_template is not None and "sky_replacement" not in args.tools:
        raise UsageError("--sky-template needs --sky-replacement")
    if args.smart:
        refused = sorted(flag(t) for t in args.tools - set(SMART_TOOLS))
        if args.profile or args.photography_type or args.export or args.crop_aspect_ratio:
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
        on = dict.fromkeys(args.tools, True)
        i2i = I2IEditOptions.parse({**on, "sky_replacement_template_id": args.sky_template})
        return EditOptions(), i2i
    if not args.profile:
        raise UsageError(
            "--profile is required (a key or exact name; `imagen-bridge profiles` lists them), "
            "or use --smart for Smart Editing"
        )
    options = EditOptions.parse(
        {
            **dict.fromkeys(args.tools, True),
            "crop_aspect_ratio": args.crop_aspect_ratio,
            "sky_replacement_template_id": args.sky_template,
        }
    )
    return options, None


def choose_out_dir(out: Path | None, *, now: datetime | None = None) -> Path:
    """``out`` if it is new or empty; by default a fresh ``./imagen-output/<date_time>``."""
    if out is None:
        stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H%M%S")
        base = Path.cwd() / DEFAULT_OUT_PARENT / stamp
        candidate, n = base, 1
        while candidate.exists():
            n += 1
            candidate = base.with_name(f"{stamp}-{n}")
        return candidate
    out = out.expanduser().absolute()
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder")
        if any(out.iterdir()):
            raise UsageError(
                f"--out {out} already holds files; choose a new or empty folder "
                "(nothing is ever overwritten)"
            )
    return out


def resolve_profile(profiles: Sequence[Profile], wanted: str, plan: Plan) -> Profile:
    """A profile by key, or by exact name (ignoring case) when that is unambiguous."""
    text = wanted.strip()
    if text.isdigit():
        for profile in profiles:
            if profile.profile_key == int(text):
                return profile
        raise UsageError(f"No profile with key {text}. `imagen-bridge profiles` lists yours.")
    named = [p for p in profiles if (p.profile_name or "").casefold() == text.casefold()]
    kinds = {photo.kind.value for photo in plan.photos}
    if len(named) > 1 and len(kinds) == 1:  # e.g. one RAW and one JPG profile of that name
        named = [p for p in named if (p.image_type or "").upper() in kinds] or named
    if len(named) == 1:
        return named[0]
    if not named:
        raise UsageError(f"No profile named {wanted!r}. `imagen-bridge profiles` lists yours.")
    keys = ", ".join(f"{p.profile_key} ({p.image_type or '?'})" for p in named)
    raise UsageError(f"Several profiles are named {wanted!r}: {keys}; pass the key instead.")


def expectation_for(profile: Profile) -> Expectation | None:
    image_type = (profile.image_type or "").upper()
    kind = {"RAW": ImageKind.RAW, "JPG": ImageKind.JPEG, "JPEG": ImageKind.JPEG}.get(image_type)
    if kind is None:
        return None
    word = "RAW" if kind is ImageKind.RAW else "JPEG"
    name = f"'{profile.profile_name}' " if profile.profile_name else ""
    return Expectation(kind, f"profile {name}({profile.profile_key}) edits {word} files")


SMART_EXPECTATION = Expectation(ImageKind.JPEG, "Smart Editing (--smart) edits JPEG files only")


async def edit_flow(
    args: EditArgs,
    settings: Settings,
    *,
    out: Console,
    err: Console,
    demo: bool = False,
    emulator: EmulatorConfig | None = None,
) -> tuple[ExitCode, RunResult]:
    """Everything ``edit`` does after parsing; ``demo`` forces the emulator."""
    options, i2i = build_options(args)
    hdr = "hdr_merge" in args.tools
    # Every local problem is found before the first network call.
    expect = SMART_EXPECTATION if args.smart else None
    plan = plan_edit(args.paths, expect=expect, recursive=args.recursive, keep_folders_together=hdr)
    out_dir = choose_out_dir(args.out)
    photography_type = (
        PhotographyType.parse(args.photography_type) if args.photography_type else None
    )
    logger = command_logger(err)
    async with imagen_client(
        settings, err=err, logger=logger, emulator=emulator, demo=demo
    ) as client:
        profile_key = None
        if not args.smart:
            assert args.profile is not None
            profile = resolve_profile(await client.profiles(), args.profile, plan)
            profile_key = profile.profile_key
            expect = expectation_for(profile)
            if expect is not None:
                refuse_other_kinds(plan, expect)
        for skipped in plan.skipped:
            err.print(f"skipped {escape(str(skipped.path))}: {escape(skipped.reason)}")
        request = EditRequest(
            plan=plan,
            out_dir=out_dir,
            profile_key=profile_key,
            photography_type=photography_type,
            options=options,
            i2i=i2i,
            export=args.export,
            send_md5=args.md5,
            edit_timeout_s=args.processing_timeout_s,
        )
        result = await _run(client, request, err, args.concurrency, logger)
    merged: MergeReport | None = None
    if args.merge:
        try:
            merged = await asyncio.to_thread(merge_sidecars, result, settings.data_dir)
        except XmpError as exc:
            err.print(f"[red]Sidecars were not merged:[/red] {escape(str(exc))}")
            merged = MergeReport(None, False, ())
            print_summary(result, merged, out=out, as_json=args.json)
            return ExitCode.FAILED, result
    print_summary(result, merged, out=out, as_json=args.json)
    ok = result.ok and (merged is None or merged.ok)
    return (ExitCode.OK if ok else ExitCode.FAILED), result


async def _run(
    client: ImagenClient,
    request: EditRequest,
    err: Console,
    concurrency: int,
    logger: logging.Logger,
) -> RunResult:
    with ProgressView(err, request.plan) as view:
        return await run_edit(
            client, request, on_event=view, concurrency=concurrency, logger=logger
        )


def summary_json(result: RunResult, merged: MergeReport | None) -> dict[str, object]:
    """The run's JSON, each photo with what happened to its sidecar (None: not merged)."""
    data = result.to_json()
    by_source = {item.source: item for item in (merged.items if merged else ())}
    for photo, entry in zip(result.photos, data["photos"], strict=True):
        item = next((by_source[o] for o in photo.outputs if o in by_source), None)
        entry["sidecar"] = (
            None
            if item is None
            else {
                "status": item.status.value,
                "path": str(item.sidecar) if item.sidecar else None,
                "reason": item.reason,
            }
        )
    if merged is not None:
        data["merge_id"] = merged.merge_id
    return data


def print_summary(
    result: RunResult, merged: MergeReport | None, *, out: Console, as_json: bool
) -> None:
    if as_json:
        text = json.dumps(summary_json(result, merged), ensure_ascii=False, indent=2)
        # A folder name that is not UTF-8 holds lone surrogates; made visible, each is exactly
        # the JSON escape "\udcXX", so the output stays valid JSON and maps back to the bytes.
        out.file.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
        return
    edited = result.count(PhotoStatus.EDITED)
    total = len(result.photos)
    style = "green" if result.ok else "red"
    out.print(f"[{style}]Edited {edited} of {total} photos.[/{style}]", highlight=False)
    if edited:
        out.print(f"Outputs: {escape(str(result.out_dir))}", highlight=False)
    for photo in result.photos:
        if photo.status is not PhotoStatus.EDITED:
            out.print(
                f"  {photo.status.value}: {escape(str(photo.photo.path))}: "
                f"{escape(photo.error or '')}",
                highlight=False,
            )
    for extra in result.extras:
        out.print(f"  kept an output that matches no photo: {escape(str(extra))}")
    if merged is not None and merged.items:
        _print_merge(merged, out)


def _print_merge(merged: MergeReport, out: Console) -> None:
    counts = ", ".join(
        f"{merged.count(status)} {status.value}" for status in ItemStatus if merged.count(status)
    )
    out.print(f"Sidecars next to your photos: {counts}.", highlight=False)
    for item in merged.items:
        if item.status in (ItemStatus.REFUSED, ItemStatus.FAILED):
            out.print(
                f"  {item.status.value}: {escape(str(item.photo or item.source))}: "
                f"{escape(item.reason or '')}",
                highlight=False,
            )
    if merged.merge_id:
        out.print(f"Undo with: imagen-bridge undo {merged.merge_id}", highlight=False)


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
    switches = {
        "crop": crop,
        "portrait_crop": portrait_crop,
        "headshot_crop": headshot_crop,
        "straighten": straighten,
        "perspective_correction": perspective_correction,
        "subject_mask": subject_mask,
        "smooth_skin": smooth_skin,
        "hdr_merge": hdr_merge,
        "window_pull": window_pull,
        "sky_replacement": sky_replacement,
    }
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
    stdout, err = consoles()

    async def flow() -> ExitCode:
        settings = load_settings()
        code, _ = await edit_flow(args, settings, out=stdout, err=err)
        return code

    raise typer.Exit(run_command(flow(), err))
