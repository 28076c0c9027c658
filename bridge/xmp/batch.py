"""Merge a batch of incoming sidecars into the sidecars next to the photographer's raws.

Two steps, so a dry run shows exactly what a real run would do:

- :func:`plan_merge` matches each incoming file to one photo under a folder (by stem,
  case-insensitively) and picks its sidecar, refusing anything ambiguous. It reads no file
  contents and writes nothing.
- :func:`stream_merge` (or :func:`apply_plan` / :func:`preview_plan`, which collect the
  results) then, for each file: reads and checks the incoming settings, reads the current
  sidecar, merges in memory and, only if the crs settings differ, journals a backup and
  publishes the result safely. Files go in chunks, merged ahead of the writes (in worker
  processes for big batches).

Every file gets a status and a reason; one bad file never stops the others. Memory does not
grow with the number of files beyond their names: sources are kept as names per folder, the
plan works each item out again when it is read, and :func:`stream_merge` hands each result on
as its chunk is done instead of keeping it.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import islice
from pathlib import Path

from bridge.durable import fsync_dir
from bridge.xmp.errors import JournalError, PublishError, XmpError
from bridge.xmp.formats import (
    EMBEDDED_XMP_EXTENSIONS,
    PHOTO_EXTENSIONS,
    SIDECAR_EXTENSION,
    SIDECAR_RAW_EXTENSIONS,
    collision_key,
    split_name,
)
from bridge.xmp.journal import Journal, new_merge_id
from bridge.xmp.merge import CrsChanges, check_belongs, crs_changes, merge_crs
from bridge.xmp.names import NameTable, OnDemand
from bridge.xmp.packet import DEFAULT_MAX_BYTES, parse_xmp, serialize_xmp
from bridge.xmp.publish import Snapshot, publish, read_bounded, read_snapshot, unsynced
from bridge.xmp.sidecar import (
    Folder,
    Naming,
    SidecarLocation,
    check_declared_extension,
    declared_extension,
    is_listed,
    locate_sidecar,
)

#: Files per journal transaction: bounds memory and the compare-before-publish window.
CHUNK_SIZE = 64
#: Threads publishing one chunk; mostly waiting in fsync, so more than the cores.
IO_THREADS = 8
#: From this many files on, merging runs in worker processes (starting them costs ~0.3 s).
PROCESS_THRESHOLD = 256
MAX_PROCESSES = 4


class ItemStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"  # we chose not to write (ambiguous, foreign, unreadable input...)
    FAILED = "failed"  # we tried and the file system said no (disk full, conflict...)


@dataclass(frozen=True)
class PlanItem:
    """One incoming file and where it goes, or why it goes nowhere."""

    source: Path
    location: SidecarLocation | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class MergePlan:
    """``items`` is worked out item by item as it is read (see :class:`_PlanItems`)."""

    into_dir: Path
    naming: Naming
    items: Sequence[PlanItem]


@dataclass(frozen=True)
class ItemResult:
    source: Path
    status: ItemStatus
    photo: Path | None = None
    sidecar: Path | None = None
    reason: str | None = None
    changes: CrsChanges = field(default_factory=CrsChanges)


class _Outcome:
    """What a merge did, counted by status. ``merge_id`` is set when something was written
    (that is what ``undo`` takes)."""

    merge_id: str | None
    dry_run: bool

    def count(self, status: ItemStatus) -> int:
        raise NotImplementedError

    @property
    def ok(self) -> bool:
        """Nothing was refused or failed."""
        return not (self.count(ItemStatus.REFUSED) or self.count(ItemStatus.FAILED))


@dataclass(frozen=True)
class MergeReport(_Outcome):
    """Every file's result, for callers with a job's worth of files."""

    merge_id: str | None
    dry_run: bool
    items: tuple[ItemResult, ...]

    def count(self, status: ItemStatus) -> int:
        return sum(1 for item in self.items if item.status is status)


@dataclass
class MergeTally(_Outcome):
    """The counts of a streamed merge, whose results went to a callback and were not kept."""

    merge_id: str | None
    dry_run: bool
    counts: dict[ItemStatus, int] = field(default_factory=dict)

    def count(self, status: ItemStatus) -> int:
        return self.counts.get(status, 0)

    def add(self, result: ItemResult) -> None:
        self.counts[result.status] = self.count(result.status) + 1


ResultCallback = Callable[[ItemResult], None]
BeforeReplace = Callable[[Path], None]


class SourceList(OnDemand[Path]):
    """Incoming files as (folder, sorted names) groups: 20,000 files cost their names' bytes
    (a :class:`NameTable`), and a Path is made only for the file being read."""

    def __init__(self) -> None:
        self._groups: list[tuple[Path, NameTable]] = []
        self._ends: list[int] = []

    def add(self, folder: Path, names: NameTable) -> None:
        if names:
            self._groups.append((folder, names))
            self._ends.append(len(self) + len(names))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _item(self, position: int) -> Path:
        group = bisect.bisect_right(self._ends, position)
        folder, names = self._groups[group]
        return folder / names[position - (self._ends[group] - len(names))]


def collect_sources(paths: Iterable[Path]) -> SourceList:
    """Files as given, folders expanded to the ``.xmp`` files directly inside (hidden ones
    skipped); duplicates once.

    A file counts once however it is reached: the same folder twice, a file and its folder, a
    symbolic link to another source. Raises FileNotFoundError for a path that does not exist
    (a usage error for the caller).
    """
    found = SourceList()
    listed: dict[Path, NameTable] = {}  # each folder read, resolved: its (sorted) names
    linked: set[Path] = set()  # sources reached by name or link, resolved (few)

    def seen(resolved: Path) -> bool:
        names = listed.get(resolved.parent)
        return resolved in linked or (names is not None and _holds(names, resolved.name))

    for path in paths:
        if path.is_dir():
            folder = path.resolve()
            if folder not in listed:
                names, links = _list_sources(path, folder, seen, linked)
                listed[folder] = table = NameTable(names)
                linked.update(links)
                found.add(path, table)
        elif path.exists():
            resolved = path.resolve()
            if not seen(resolved):
                linked.add(resolved)
                found.add(path.parent, NameTable([path.name]))
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return found


def _list_sources(
    path: Path, folder: Path, seen: Callable[[Path], bool], linked: set[Path]
) -> tuple[list[str], list[Path]]:
    """The sorted ``.xmp`` names in ``path`` not already reached, and where its links lead."""
    names: list[str] = []
    links: dict[str, Path] = {}
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.startswith(".") or split_name(entry.name)[1] != SIDECAR_EXTENSION:
                continue  # hidden files (macOS ._IMG_1.xmp resource forks) are not sidecars
            if not entry.is_file():
                continue
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if seen(target):
                    continue
                links[entry.name] = target
            elif linked and folder / entry.name in linked:
                continue
            names.append(entry.name)
    names.sort()
    # A link to a file of this very folder: the file counts, the link does not.
    inside = {n for n, target in links.items() if target.parent == folder and target.name != n}
    if inside:
        names = [n for n in names if n not in inside or not _holds(names, links[n].name)]
    return names, [target for n, target in links.items() if n not in inside]


def _holds(names: Sequence[str], name: str) -> bool:
    at = bisect.bisect_left(names, name)
    return at < len(names) and names[at] == name


class _PhotoIndex:
    """Every photo under the merge folder, found by stem (case-insensitively) through the
    listings of its folders; nothing per photo but what :class:`Folder` keeps."""

    def __init__(self, folders: list[Folder]) -> None:
        self.folders = folders
        # With several folders, which of them hold a stem (a list only where several do).
        self._by_stem: dict[str, Folder | list[Folder]] = {}
        if len(folders) > 1:
            for folder in folders:
                for key in folder.photo_stems():
                    held = self._by_stem.setdefault(key, folder)
                    if isinstance(held, list):
                        if held[-1] is not folder:  # a folder's stems come one after another
                            held.append(folder)
                    elif held is not folder:
                        self._by_stem[key] = [held, folder]

    @classmethod
    def build(cls, root: Path, *, recursive: bool) -> _PhotoIndex:
        folders = []
        pending = [root]
        while pending:
            folder_path = pending.pop()
            names: list[str] = []
            try:
                with os.scandir(folder_path) as entries:
                    for entry in entries:
                        if is_listed(entry):
                            names.append(entry.name)
                        elif recursive and entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
            except OSError:
                if folder_path == root:
                    raise
                continue  # an unreadable subfolder holds no photos we could match
            folders.append(Folder(folder_path, names))
        return cls(folders)

    def photos(self, stem: str) -> list[tuple[Folder, str]]:
        """``(folder, name)`` of every photo whose stem matches ``stem``, by folder and name."""
        if len(self.folders) == 1:
            candidates: list[Folder] = self.folders
        else:
            held = self._by_stem.get(collision_key(stem))
            candidates = [] if held is None else held if isinstance(held, list) else [held]
        found = [(f, name) for f in candidates for name in f.photos_with_stem(stem)]
        return sorted(found, key=lambda match: (match[0].path, match[1]))


def plan_merge(
    sources: Sequence[Path],
    into_dir: Path,
    *,
    recursive: bool = False,
    naming: Naming = Naming.ADOBE,
) -> MergePlan:
    """Match every source to one photo under ``into_dir`` and choose its sidecar.

    Raises :class:`XmpError` only if ``into_dir`` itself cannot be listed.
    """
    into_dir = into_dir.absolute()
    try:
        index = _PhotoIndex.build(into_dir, recursive=recursive)
    except OSError as exc:
        raise XmpError(f"Cannot list the folder {into_dir}: {exc.strerror or exc}") from exc
    where = f"{into_dir}{' or its subfolders' if recursive else ''}"

    def locate(position: int) -> PlanItem:
        return _plan_one(sources[position], index, where, naming)

    return MergePlan(into_dir, naming, _PlanItems(len(sources), locate))


def plan_pairs(
    pairs: Sequence[tuple[Path, Path]], *, into_dir: Path, naming: Naming = Naming.ADOBE
) -> MergePlan:
    """A plan for callers that already know each source's photo (the job runner)."""
    folders: dict[Path, Folder] = {}

    def locate(position: int) -> PlanItem:
        source, photo = pairs[position]
        try:
            folder = folders.get(photo.parent) or Folder.scan(photo.parent)
            folders[photo.parent] = folder
            return PlanItem(source, locate_sidecar(photo, naming=naming, folder=folder))
        except XmpError as exc:
            return PlanItem(source, refusal=str(exc))

    return MergePlan(into_dir, naming, _PlanItems(len(pairs), locate))


def _plan_one(source: Path, index: _PhotoIndex, where: str, naming: Naming) -> PlanItem:
    stem, ext = split_name(source.name)
    if ext in EMBEDDED_XMP_EXTENSIONS:
        return PlanItem(
            source,
            refusal=f"{source.name} is a {ext.upper()}: settings go to Lightroom "
            "(embedded-XMP type); no sidecar is written",
        )
    if ext != SIDECAR_EXTENSION:
        return PlanItem(source, refusal=f"{source.name} is not an .xmp sidecar")
    # A darktable-style name (IMG_1.CR2.xmp) names the photo exactly.
    photo_stem, photo_ext = split_name(stem)
    exact = photo_ext in PHOTO_EXTENSIONS
    candidates = index.photos(photo_stem if exact else stem)
    if exact:
        wanted = collision_key(stem)
        candidates = [(f, name) for f, name in candidates if collision_key(name) == wanted]
    if not candidates:
        pattern = stem if exact else f"{stem}.*"
        return PlanItem(source, refusal=f"no photo named {pattern} under {where}")
    folder = candidates[0][0]
    if any(f is not folder for f, _ in candidates):
        listed = ", ".join(str(f.path / name) for f, name in candidates)
        return PlanItem(
            source,
            refusal=f"photos named {stem}.* are in several folders ({listed}); "
            "merge one folder at a time",
        )
    photos = [name for _, name in candidates]
    raws = [name for name in photos if split_name(name)[1] in SIDECAR_RAW_EXTENSIONS]
    if len(raws) > 1 and naming is Naming.DARKTABLE:
        return PlanItem(
            source,
            refusal=f"several raws match {source.name} ({', '.join(raws)}); "
            "name the incoming file after one of them (IMG_1.CR2.xmp)",
        )
    try:
        location = locate_sidecar(
            folder.path / (raws[0] if raws else photos[0]), naming=naming, folder=folder
        )
    except XmpError as exc:
        return PlanItem(source, refusal=str(exc))
    if _same_file(source, location.sidecar):
        return PlanItem(source, refusal=f"{source} is that photo's sidecar itself")
    return PlanItem(source, location)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _target_key(location: SidecarLocation) -> str:
    """The folder as is, the name as the (maybe case-insensitive) file system compares it."""
    return f"{location.sidecar.parent}\0{collision_key(location.sidecar.name)}"


class _PlanItems(OnDemand[PlanItem]):
    """The items of a plan, each worked out when it is read (``locate``, from listings made
    once), so a plan holds per file no paths, locations or contents.

    One pass at creation finds sidecars that several incoming files would write: we cannot
    know which is right, so none of them goes (only those files are remembered).
    """

    def __init__(self, count: int, locate: Callable[[int], PlanItem]) -> None:
        self._count = count
        self._locate = locate
        # Two passes, the first over the keys' hashes only (small ints, not 20,000 strings),
        # the second exact, over the few targets whose hash came twice.
        seen: set[int] = set()
        twice: set[int] = set()
        for position in range(count):
            key = self._key(position)
            if key is not None:
                (twice if hash(key) in seen else seen).add(hash(key))
        del seen
        claims: dict[str, list[int]] = {}
        if twice:
            for position in range(count):
                key = self._key(position)
                if key is not None and hash(key) in twice:
                    claims.setdefault(key, []).append(position)
        self._rivals = {key: held for key, held in claims.items() if len(held) > 1}

    def _key(self, position: int) -> str | None:
        location = self._locate(position).location
        return None if location is None else _target_key(location)

    def __len__(self) -> int:
        return self._count

    def _item(self, position: int) -> PlanItem:
        item = self._locate(position)
        if item.location is None or not self._rivals:
            return item
        rivals = self._rivals.get(_target_key(item.location))
        if rivals is None:
            return item
        names = ", ".join(str(self._locate(r).source) for r in rivals)
        return PlanItem(
            item.source,
            refusal=f"{len(rivals)} incoming files ({names}) are for the same photo "
            f"{item.location.photo.name}; keep one",
        )


@dataclass(frozen=True)
class _Prepared:
    location: SidecarLocation
    current: Snapshot
    data: bytes
    changes: CrsChanges


def _read_source(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            fd = handle.fileno()
            data = read_bounded(fd, DEFAULT_MAX_BYTES + 1, expected=os.fstat(fd).st_size)
    except OSError as exc:
        raise XmpError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > DEFAULT_MAX_BYTES:
        raise XmpError(f"{path} is larger than {DEFAULT_MAX_BYTES} bytes; not reading it")
    return data


def _prepare(item: PlanItem, now: datetime) -> _Prepared | ItemResult:
    """Everything short of writing: read, check, merge in memory, compare."""
    location = item.location
    if location is None:
        return ItemResult(item.source, ItemStatus.REFUSED, reason=item.refusal)
    refused = ItemResult(item.source, ItemStatus.REFUSED, location.photo, location.sidecar)
    try:
        incoming = parse_xmp(_read_source(item.source))
        check_belongs(incoming, location.photo, is_raw=True)
        check_declared_extension(declared_extension(incoming), location)
    except XmpError as exc:
        return _with_reason(refused, f"{item.source.name}: {exc}")
    try:
        current = read_snapshot(location.sidecar, max_bytes=DEFAULT_MAX_BYTES)
        if current.read_only:
            return _with_reason(refused, f"{location.sidecar} is read-only; not touching it")
        existing = parse_xmp(current.data) if current.data is not None else None
        if existing is not None:
            check_declared_extension(declared_extension(existing), location)
    except XmpError as exc:
        return _with_reason(refused, f"the current sidecar is left as it is: {exc}")
    # The merge puts incoming's crs in wholesale, so comparing with incoming is comparing with
    # the result, and an unchanged file costs no merge at all.
    changes = crs_changes(existing, incoming)
    if existing is not None and changes.empty:
        return ItemResult(
            item.source, ItemStatus.UNCHANGED, location.photo, location.sidecar, changes=changes
        )
    merged = merge_crs(existing, incoming, now=now)
    return _Prepared(location, current, serialize_xmp(merged), changes)


def _with_reason(result: ItemResult, reason: str) -> ItemResult:
    return ItemResult(result.source, result.status, result.photo, result.sidecar, reason)


def _written(item: PlanItem, prepared: _Prepared) -> ItemResult:
    status = ItemStatus.UPDATED if prepared.current.exists else ItemStatus.CREATED
    return ItemResult(
        item.source,
        status,
        prepared.location.photo,
        prepared.location.sidecar,
        changes=prepared.changes,
    )


def _merge_chunk(chunk: Sequence[PlanItem], now: datetime) -> list[_Prepared | ItemResult]:
    return [_prepare(item, now) for item in chunk]


def _can_fork() -> bool:
    """Forked workers start at once and re-import nothing (spawned ones re-run the caller's
    ``__main__``), but forking is only safe without other threads (their locks would be copied
    held) and on Linux (macOS system libraries are not fork-safe)."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


@contextmanager
def _mergers(count: int) -> Iterator[tuple[Executor, int]]:
    """Where merging runs: forked worker processes for big batches (it is CPU-bound Python, so
    threads would not help), else one thread beside the caller's (overlapping with writes)."""
    cores = os.cpu_count() or 1
    if count < PROCESS_THRESHOLD or cores < 2 or not _can_fork():
        with ThreadPoolExecutor(1, thread_name_prefix="merge-cpu") as thread:
            yield thread, 1
        return
    workers = min(cores, MAX_PROCESSES)
    # With "fork", the executor starts every worker on the first submit, before its own
    # management thread exists.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as processes:
        yield processes, workers


def _merged_chunks(
    items: Sequence[PlanItem], now: datetime
) -> Iterator[list[tuple[PlanItem, _Prepared | ItemResult]]]:
    """Chunks of (item, merge result) in plan order, merged a few chunks ahead of the consumer.

    Only the chunks in flight exist: each is read off the plan as it is submitted.
    """
    upcoming = (items[i : i + CHUNK_SIZE] for i in range(0, len(items), CHUNK_SIZE))
    with _mergers(len(items)) as (executor, workers):
        ahead = deque(
            (chunk, executor.submit(_merge_chunk, chunk, now))
            for chunk in islice(upcoming, workers + 1)
        )
        try:
            while ahead:
                chunk, future = ahead.popleft()
                following = next(upcoming, None)
                if following is not None:
                    ahead.append((following, executor.submit(_merge_chunk, following, now)))
                yield list(zip(chunk, future.result(), strict=True))
        finally:
            for _, pending in ahead:
                pending.cancel()


def stream_merge(
    plan: MergePlan,
    now: datetime,
    on_result: ResultCallback,
    *,
    journal: Journal | None,
    before_replace: BeforeReplace | None = None,
    merge_id: str | None = None,
) -> MergeTally:
    """Merge every planned file, handing each result to ``on_result`` once it is final (its
    file and folder are on disk); nothing per file is kept, so any number of files merges in
    the same memory. ``journal=None`` is a dry run: the statuses and crs changes a real run
    would produce, nothing written.

    Writing: backups + journal first, then safe replaces. Files go in chunks, merged ahead
    (see :func:`_mergers`) while earlier chunks are written. A chunk's backups are written and
    journaled in one transaction, then its targets are published by a few threads so that their
    fsyncs overlap (the file system commits them together) instead of queueing one by one,
    then each folder written to is synced once. ``merge_id`` continues a merge (a resumed
    job): its entries are added to it. ``before_replace`` is passed to :func:`publish` (a
    seam for concurrent-writer tests).
    """
    tally = MergeTally(None, dry_run=journal is None)

    def emit(result: ItemResult) -> None:
        tally.add(result)
        on_result(result)

    if journal is None:
        for chunk in _merged_chunks(plan.items, now):
            for item, prepared in chunk:
                emit(prepared if isinstance(prepared, ItemResult) else _written(item, prepared))
        return tally
    merge_id = merge_id or new_merge_id(now)
    with ThreadPoolExecutor(IO_THREADS, thread_name_prefix="merge-io") as pool:
        ctx = _ChunkContext(journal, merge_id, plan.into_dir, now, pool, before_replace)
        for chunk in _merged_chunks(plan.items, now):
            for result in _write_chunk(chunk, ctx):
                emit(result)
    tally.merge_id = merge_id if ctx.wrote else None
    return tally


def preview_plan(
    plan: MergePlan, now: datetime, *, on_result: ResultCallback | None = None
) -> MergeReport:
    """:func:`stream_merge` as a dry run, every result collected."""
    results: list[ItemResult] = []
    tally = stream_merge(plan, now, _collector(results, on_result), journal=None)
    return MergeReport(tally.merge_id, True, tuple(results))


def apply_plan(
    plan: MergePlan,
    journal: Journal,
    now: datetime,
    *,
    on_result: ResultCallback | None = None,
    before_replace: BeforeReplace | None = None,
    merge_id: str | None = None,
) -> MergeReport:
    """:func:`stream_merge`, every result collected (for a job's worth of files)."""
    results: list[ItemResult] = []
    tally = stream_merge(
        plan, now, _collector(results, on_result), journal=journal,
        before_replace=before_replace, merge_id=merge_id,
    )  # fmt: skip
    return MergeReport(tally.merge_id, False, tuple(results))


def _collector(results: list[ItemResult], then: ResultCallback | None) -> ResultCallback:
    def collect(result: ItemResult) -> None:
        results.append(result)
        if then is not None:
            then(result)

    return collect


@dataclass
class _ChunkContext:
    journal: Journal
    merge_id: str
    into_dir: Path
    now: datetime
    pool: ThreadPoolExecutor
    before_replace: BeforeReplace | None
    wrote: bool = False  # some file was published: the merge has something to undo


def _write_chunk(
    chunk: list[tuple[PlanItem, _Prepared | ItemResult]], ctx: _ChunkContext
) -> list[ItemResult]:
    writes = [(item, p) for item, p in chunk if isinstance(p, _Prepared)]
    outcome: dict[int, ItemResult] = {}
    if writes:
        try:
            seqs = ctx.journal.record(
                ctx.merge_id,
                now=ctx.now,
                into_dir=ctx.into_dir,
                writes=[(p.current, p.data) for _, p in writes],
                executor=ctx.pool,
            )
        except JournalError as exc:
            outcome = {id(p): _failed(item, p, str(exc)) for item, p in writes}
        else:
            errors = list(ctx.pool.map(lambda w: _publish(w[1], ctx.before_replace), writes))
            # Publishing failed before the rename: the target is as it was, the row goes.
            ctx.journal.forget(ctx.merge_id, [s for s, e in zip(seqs, errors, strict=True) if e])
            published = [w for w, e in zip(writes, errors, strict=True) if e is None]
            ctx.wrote = ctx.wrote or bool(published)
            # Once per folder, not per file, and before the results go out: a file reported
            # written is on disk. A folder that cannot be synced fails its files; their rows
            # stay (undo judges by bytes, so it copes with a rename the crash took back).
            folders = sorted({p.location.sidecar.parent for _, p in published})
            failed = dict(zip(folders, ctx.pool.map(_sync_error, folders), strict=True))
            for (item, p), error in zip(writes, errors, strict=True):
                sidecar = p.location.sidecar
                sync_error = failed.get(sidecar.parent)
                if error is None and sync_error is not None:
                    error = str(unsynced(sidecar, "written", sync_error))
                outcome[id(p)] = _failed(item, p, error) if error else _written(item, p)
    return [outcome[id(p)] if isinstance(p, _Prepared) else p for _, p in chunk]


def _sync_error(folder: Path) -> OSError | None:
    try:
        fsync_dir(folder)
    except OSError as exc:
        return exc
    return None


def _publish(prepared: _Prepared, before_replace: BeforeReplace | None) -> str | None:
    """Publish one file; the error message if it failed."""
    try:
        publish(prepared.current, prepared.data, before_replace=before_replace, sync_dir=False)
    except PublishError as exc:
        return str(exc)
    return None


def _failed(item: PlanItem, prepared: _Prepared, reason: str) -> ItemResult:
    location = prepared.location
    return ItemResult(item.source, ItemStatus.FAILED, location.photo, location.sidecar, reason)
