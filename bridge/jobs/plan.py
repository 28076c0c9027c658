"""Turn the paths a user gave into Imagen projects, refusing bad input before any network call.

Imagen keys uploads by base name and writes outputs by stem (``IMG_1.CR2`` ->
``IMG_1.xmp``), on a store that may compare names case-insensitively. So two
photos whose stems match ignoring case and Unicode normalisation can never
share a project: they are spread over several projects instead of being
collapsed or refused. RAW and JPEG never share a project either.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from bridge.xmp.formats import IMAGEN_JPEG_EXTENSIONS, IMAGEN_RAW_EXTENSIONS, extension_of

# One definition, shared with sidecar placement; re-exported for the runner.
from bridge.xmp.formats import collision_key as collision_key


class ImageKind(StrEnum):
    """What a project holds; the values are Imagen's profile ``image_type`` strings."""

    RAW = "RAW"
    JPEG = "JPG"


RAW_EXTENSIONS = [f".{ext}" for ext in IMAGEN_RAW_EXTENSIONS]
JPEG_EXTENSIONS = [f".{ext}" for ext in IMAGEN_JPEG_EXTENSIONS]
SUPPORTED_HINT = (
    f"Imagen edits RAW files ({' '.join(RAW_EXTENSIONS)}) and JPEG files "
    f"({' '.join(JPEG_EXTENSIONS)}); extensions are case-insensitive."
)
_KIND_BY_EXTENSION = dict.fromkeys(IMAGEN_RAW_EXTENSIONS, ImageKind.RAW) | dict.fromkeys(
    IMAGEN_JPEG_EXTENSIONS, ImageKind.JPEG
)
_KIND_WORDS = {ImageKind.RAW: "RAW", ImageKind.JPEG: "JPEG"}


def kind_of(path: Path) -> ImageKind | None:
    """The kind a file name says it is, or None for anything Imagen does not edit."""
    return _KIND_BY_EXTENSION.get(extension_of(path.name))


@dataclass(frozen=True, slots=True)
class Photo:
    """One validated input file. ``path`` is absolute and spelled exactly as found on disk."""

    path: Path
    size: int
    kind: ImageKind

    @property
    def name(self) -> str:
        """The name it is uploaded under."""
        return self.path.name

    @property
    def stem_key(self) -> str:
        return collision_key(self.path.stem)

    @property
    def is_dng(self) -> bool:
        """DNG is RAW to Imagen, but comes back as a DNG with embedded XMP, not a sidecar."""
        return self.path.suffix.lower() == ".dng"


@dataclass(frozen=True)
class SkippedFile:
    """A file inside a given folder that is not a photo (sidecars, videos, notes)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class PlannedProject:
    """One Imagen project: a single kind, stems unique ignoring case."""

    index: int  # 1-based, in the order projects are created
    kind: ImageKind
    photos: tuple[Photo, ...]
    subdir: str  # where its outputs go below the output folder; "" for a one-project plan

    @property
    def total_bytes(self) -> int:
        return sum(photo.size for photo in self.photos)


@dataclass(frozen=True)
class Plan:
    projects: tuple[PlannedProject, ...]
    skipped: tuple[SkippedFile, ...] = ()

    @property
    def photos(self) -> tuple[Photo, ...]:
        return tuple(photo for project in self.projects for photo in project.photos)

    def summary(self) -> PlanSummary:
        return PlanSummary(
            photos=sum(len(p.photos) for p in self.projects),
            projects=len(self.projects),
            total_bytes=sum(p.total_bytes for p in self.projects),
        )


@dataclass(frozen=True)
class PlanSummary:
    """A plan's sizes: what progress needs, without holding every photo of the plan."""

    photos: int
    projects: int
    total_bytes: int


class PlanError(ValueError):
    """The input cannot be edited as given; every problem names the file it is about."""

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = tuple(problems)
        self.hint = hint
        count = len(self.problems)
        lines = [f"Cannot start the edit: {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Expectation:
    """Which kind the chosen profile or tool edits, and how to say so in an error."""

    kind: ImageKind
    reason: str  # e.g. "profile 'CLEAN & CRISP' (5700) edits RAW files"


def plan_edit(
    paths: Sequence[Path],
    *,
    expect: Expectation | None = None,
    recursive: bool = False,
    keep_folders_together: bool = False,
) -> Plan:
    """Validate ``paths`` (files and folders) and partition them into projects.

    ``expect`` refuses photos of the other kind (a RAW profile given JPEGs);
    without it RAW and JPEG photos go to separate projects.
    ``keep_folders_together`` keeps each folder's photos in one project, so an
    HDR bracket is never split; name clashes inside one folder are then refused.
    """
    photos, skipped, problems = _collect(paths, recursive=recursive)
    hint = SUPPORTED_HINT if any("unsupported file type" in p for p in problems) else None
    if expect is not None:
        problems += _kind_problems(photos, expect)
    if keep_folders_together:
        problems += _clashes_within_folders(photos)
    if not problems and not photos:
        problems.append("no photos given")
    if problems:
        raise PlanError(problems, hint=hint)
    return Plan(projects=_partition(photos, keep_folders_together), skipped=tuple(skipped))


def refuse_other_kinds(plan: Plan, expect: Expectation) -> None:
    """Raise PlanError naming every planned photo that ``expect`` does not edit.

    For an expectation known only after planning (the profile's image type), so the
    files are not walked and checked a second time.
    """
    problems = _kind_problems(plan.photos, expect)
    if problems:
        raise PlanError(problems)


def _kind_problems(photos: Iterable[Photo], expect: Expectation) -> list[str]:
    return [
        f"{photo.path}: {_KIND_WORDS[photo.kind]} file, but the {expect.reason}"
        for photo in photos
        if photo.kind is not expect.kind
    ]


def _collect(
    paths: Sequence[Path], *, recursive: bool
) -> tuple[list[Photo], list[SkippedFile], list[str]]:
    photos: list[Photo] = []
    skipped: list[SkippedFile] = []
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()

    def add(path: Path, st: os.stat_result) -> None:
        identity = (st.st_dev, st.st_ino)
        if identity in seen:  # the same file named twice, via any spelling or link
            return
        seen.add(identity)
        problem = _file_problem(path, st)
        if problem:
            problems.append(f"{path}: {problem}")
            return
        kind = kind_of(path)
        assert kind is not None
        photos.append(Photo(path=path, size=st.st_size, kind=kind))

    for given in paths:
        # abspath, not resolve(): tidy "..", but keep the user's symlinked spelling
        path = Path(os.path.abspath(given))  # noqa: PTH100
        try:
            st = path.stat()
        except FileNotFoundError:
            problems.append(f"{path}: no such file or folder")
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({_reason(exc)})")
            continue
        if stat.S_ISDIR(st.st_mode):
            folder_skipped, folder_problem = _expand_folder(path, recursive=recursive, found=add)
            skipped += folder_skipped
            if folder_problem:
                problems.append(f"{path}: {folder_problem}")
        elif kind_of(path) is None:
            problems.append(f"{path}: unsupported file type {_describe_suffix(path)}")
        else:
            add(path, st)
    return photos, skipped, problems


def _file_problem(path: Path, st: os.stat_result) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if any(ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in path.name):
        return (
            "the file name holds a control character or backslash, which cannot be sent "
            "to Imagen safely; rename the file"
        )
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return (
            "the file name is not valid UTF-8 (another system's encoding wrote it), and Imagen "
            "takes UTF-8 names only; rename the file"
        )
    if st.st_size == 0:
        return "the file is empty (0 bytes)"
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"cannot be read ({_reason(exc)})"
    return None


def _expand_folder(
    folder: Path, *, recursive: bool, found: Callable[[Path, os.stat_result], None]
) -> tuple[list[SkippedFile], str | None]:
    """Hand each photo directly in ``folder`` (or below it) to ``found``, in name order;
    hidden entries ignored. Handed on at once: a folder may hold 20,000 of them."""
    skipped: list[SkippedFile] = []
    subfolders = photos = 0
    try:
        walk = _walk(folder, recursive=recursive)
        for entry in walk:
            try:
                st = entry.stat()
            except OSError as exc:
                skipped.append(SkippedFile(entry, f"cannot be read ({_reason(exc)})"))
                continue
            if stat.S_ISDIR(st.st_mode):
                subfolders += 1
            elif kind_of(entry) is None:
                skipped.append(SkippedFile(entry, f"not a photo ({_describe_suffix(entry)})"))
            else:
                photos += 1
                found(entry, st)
    except OSError as exc:
        return [], f"folder cannot be read ({_reason(exc)})"
    if photos:
        return skipped, None
    more = " (it has subfolders: add --recursive to include them)" if subfolders else ""
    return skipped, f"folder holds no RAW or JPEG photos{more}"


def _walk(folder: Path, *, recursive: bool) -> Iterable[Path]:
    """Visible entries, sorted by name; subfolders are yielded (non-recursive) or entered."""
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if recursive and entry.is_dir():
            yield from _walk(entry, recursive=True)
        else:
            yield entry


def _clash_pairs(photos: Sequence[Photo]) -> Iterable[tuple[Path, str]]:
    first_by_key: dict[tuple[Path, ImageKind, str], Photo] = {}
    for photo in photos:
        key = (photo.path.parent, photo.kind, photo.stem_key)
        other = first_by_key.setdefault(key, photo)
        if other is not photo:
            yield (
                photo.path,
                (
                    "HDR merge keeps a folder's frames in one project, but this name clashes "
                    f"with {other.path.name} (same name ignoring case and extension)"
                ),
            )


def _clashes_within_folders(photos: Sequence[Photo]) -> list[str]:
    return [f"{path}: {reason}" for path, reason in _clash_pairs(photos)]


PROJECT_PHOTOS = 500
"""Photos per Imagen project at most. A job runs a few projects at a time, so what it holds
in memory is bounded by this, not by the job's size. A folder of HDR brackets is never
split (a bracket must stay in one project), so such a project may hold more."""


@dataclass
class _Bucket:
    kind: ImageKind
    stems: set[str] = field(default_factory=set)
    size: int = 0


def assign_projects(
    members: Iterable[tuple[ImageKind, Hashable, str]], *, cap: int = PROJECT_PHOTOS
) -> list[int]:
    """The project (0-based, RAW ones first) of each ``(kind, group, stem key)``: first fit,
    each group to the first project of its kind with room for it and none of its stems.

    Members of one group always share a project. Takes plain tuples, so a job of 20,000
    photos is planned from its store rows without a Photo for each.
    """
    groups: dict[tuple[ImageKind, Hashable], list[tuple[int, str]]] = {}
    count = 0
    for position, (kind, group, stem_key) in enumerate(members):
        groups.setdefault((kind, group), []).append((position, stem_key))
        count += 1
    assigned = [0] * count
    buckets: list[_Bucket] = []
    for kind in (ImageKind.RAW, ImageKind.JPEG):
        for (group_kind, _), grouped in groups.items():
            if group_kind is not kind:
                continue
            keys = {stem_key for _, stem_key in grouped}
            number = next(
                (
                    n
                    for n, b in enumerate(buckets)
                    if b.kind is kind and not (b.stems & keys) and b.size + len(grouped) <= cap
                ),
                None,
            )
            if number is None:
                number = len(buckets)
                buckets.append(_Bucket(kind))
            buckets[number].stems.update(keys)
            buckets[number].size += len(grouped)
            for position, _ in grouped:
                assigned[position] = number
    return assigned


def project_subdir(index: int, *, several: bool) -> str:
    """Where a project's outputs go below the output folder: its own folder when the job
    has (or may come to have, once retried) more than one project."""
    return f"project-{index}" if several else ""


def _partition(photos: Sequence[Photo], keep_folders_together: bool) -> tuple[PlannedProject, ...]:
    numbers = assign_projects(
        (p.kind, p.path.parent if keep_folders_together else i, p.stem_key)
        for i, p in enumerate(photos)
    )
    buckets: dict[int, list[Photo]] = {}
    for photo, number in zip(photos, numbers, strict=True):
        buckets.setdefault(number, []).append(photo)
    several = len(buckets) > 1
    return tuple(
        PlannedProject(
            index=number + 1,
            kind=members[0].kind,
            photos=tuple(members),
            subdir=project_subdir(number + 1, several=several),
        )
        for number, members in sorted(buckets.items())
    )


def _describe_suffix(path: Path) -> str:
    return f"'{path.suffix}'" if path.suffix else "(no extension)"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EACCES:
        return "permission denied"
    return exc.strerror or str(exc)


def check_photo(given: str, seen: dict[tuple[int, int], int], index: int) -> Photo | str:
    """One photo named by a caller (the API): the Photo, or why it cannot be edited.

    ``seen`` maps files already accepted to their index, so the same file named twice
    (any spelling, any link) is refused the second time, naming the first.
    """
    path = Path(os.path.abspath(given))  # noqa: PTH100
    try:
        st = path.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read ({_reason(exc)})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder; name the photo files in it"
    if kind_of(path) is None:
        return f"unsupported file type {_describe_suffix(path)}. {SUPPORTED_HINT}"
    problem = _file_problem(path, st)
    if problem:
        return problem
    first = seen.setdefault((st.st_dev, st.st_ino), index)
    if first != index:
        return f"the same file as photo {first} of this job"
    kind = kind_of(path)
    assert kind is not None
    return Photo(path=path, size=st.st_size, kind=kind)


def partition(
    photos: Sequence[Photo], *, keep_folders_together: bool
) -> tuple[PlannedProject, ...]:
    """Projects for ``photos``, as :func:`plan_edit` makes them."""
    return _partition(photos, keep_folders_together)


def folder_clashes(photos: Sequence[Photo]) -> dict[Path, str]:
    """For HDR merge: photos whose name clashes with another frame of their folder, and why."""
    return dict(_clash_pairs(photos))
