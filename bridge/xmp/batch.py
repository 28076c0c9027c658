"""Merge a batch of incoming sidecars into the sidecars next to the photographer's raws.

Two steps, so a dry run shows exactly what a real run would do:

- :func:`plan_merge` matches each incoming file to one photo under a folder (by stem,
  case-insensitively) and picks its sidecar, refusing anything ambiguous. It reads no file
  contents and writes nothing.
- :func:`apply_plan` (or :func:`preview_plan` for a dry run) then, for each file: reads and
  checks the incoming settings, reads the current sidecar, merges in memory and, only if the
  crs settings differ, journals a backup and publishes the result safely. Files go in chunks,
  merged ahead of the writes (in worker processes for big batches).

Every file gets a status and a reason; one bad file never stops the others.
"""

from __future__ import annotations

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
    SIDECAR_RAW_EXTENSIONS,
    collision_key,
    split_name,
)
from bridge.xmp.journal import Journal, new_merge_id
from bridge.xmp.merge import CrsChanges, check_belongs, crs_changes, merge_crs
from bridge.xmp.packet import DEFAULT_MAX_BYTES, parse_xmp, serialize_xmp
from bridge.xmp.publish import Snapshot, publish, read_snapshot
from bridge.xmp.sidecar import (
    SIDECAR_EXTENSION,
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
    into_dir: Path
    naming: Naming
    items: tuple[PlanItem, ...]


@dataclass(frozen=True)
class ItemResult:
    source: Path
    status: ItemStatus
    photo: Path | None = None
    sidecar: Path | None = None
    reason: str | None = None
    changes: CrsChanges = field(default_factory=CrsChanges)


@dataclass(frozen=True)
class MergeReport:
    """``merge_id`` is set when something was written (that is what ``undo`` takes)."""

    merge_id: str | None
    dry_run: bool
    items: tuple[ItemResult, ...]

    def count(self, status: ItemStatus) -> int:
        return sum(1 for item in self.items if item.status is status)

    @property
    def ok(self) -> bool:
        """Nothing was refused or failed."""
        return not any(i.status in (ItemStatus.REFUSED, ItemStatus.FAILED) for i in self.items)


ResultCallback = Callable[[ItemResult], None]
BeforeReplace = Callable[[Path], None]


def collect_sources(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders expanded to the ``.xmp`` files directly inside; duplicates once.

    Raises FileNotFoundError for a path that does not exist (a usage error for the caller).
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            with os.scandir(path) as entries:
                inside = sorted(
                    Path(entry.path)
                    for entry in entries
                    if entry.is_file() and split_name(entry.name)[1] == SIDECAR_EXTENSION
                )
        elif path.exists():
            inside = [path]
        else:
            raise FileNotFoundError(f"{path} does not exist")
        for source in inside:
            resolved = source.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append(source)
    return found


@dataclass
class _PhotoIndex:
    """Every photo under the merge folder, by stem and by full name (both case-insensitive)."""

    folders: dict[Path, Folder] = field(default_factory=dict)
    by_stem: dict[str, list[Path]] = field(default_factory=dict)
    by_name: dict[str, list[Path]] = field(default_factory=dict)

    @classmethod
    def build(cls, root: Path, *, recursive: bool) -> _PhotoIndex:
        index = cls()
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
            index.folders[folder_path] = Folder(folder_path, names)
            for name in names:
                stem, ext = split_name(name)
                if ext in PHOTO_EXTENSIONS:
                    photo = folder_path / name
                    index.by_stem.setdefault(collision_key(stem), []).append(photo)
                    index.by_name.setdefault(collision_key(name), []).append(photo)
        return index


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
    items = [_plan_one(source, index, where, naming) for source in sources]
    return MergePlan(into_dir, naming, _refuse_shared_targets(items))


def plan_pairs(
    pairs: Sequence[tuple[Path, Path]], *, into_dir: Path, naming: Naming = Naming.ADOBE
) -> MergePlan:
    """A plan for callers that already know each source's photo (the job runner)."""
    folders: dict[Path, Folder] = {}
    items = []
    for source, photo in pairs:
        try:
            folder = folders.get(photo.parent) or Folder.scan(photo.parent)
            folders[photo.parent] = folder
            location = locate_sidecar(photo, naming=naming, folder=folder)
        except XmpError as exc:
            items.append(PlanItem(source, refusal=str(exc)))
        else:
            items.append(PlanItem(source, location))
    return MergePlan(into_dir, naming, _refuse_shared_targets(items))


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
    exact = split_name(stem)[1] in PHOTO_EXTENSIONS
    candidates = (index.by_name if exact else index.by_stem).get(collision_key(stem), [])
    if not candidates:
        pattern = stem if exact else f"{stem}.*"
        return PlanItem(source, refusal=f"no photo named {pattern} under {where}")
    folders = sorted({photo.parent for photo in candidates})
    if len(folders) > 1:
        listed = ", ".join(str(p) for p in sorted(candidates))
        return PlanItem(
            source,
            refusal=f"photos named {stem}.* are in several folders ({listed}); "
            "merge one folder at a time",
        )
    photos = sorted(candidates)
    raws = [p for p in photos if split_name(p.name)[1] in SIDECAR_RAW_EXTENSIONS]
    if len(raws) > 1 and naming is Naming.DARKTABLE:
        return PlanItem(
            source,
            refusal=f"several raws match {source.name} ({', '.join(p.name for p in raws)}); "
            "name the incoming file after one of them (IMG_1.CR2.xmp)",
        )
    try:
        location = locate_sidecar(
            raws[0] if raws else photos[0], naming=naming, folder=index.folders[folders[0]]
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


def _target_key(location: SidecarLocation) -> tuple[Path, str]:
    """The folder as is, the name as the (maybe case-insensitive) file system compares it."""
    return location.sidecar.parent, collision_key(location.sidecar.name)


def _refuse_shared_targets(items: list[PlanItem]) -> tuple[PlanItem, ...]:
    """Two incoming files for one sidecar: we cannot know which is right, so neither goes."""
    by_target: dict[tuple[Path, str], list[PlanItem]] = {}
    for item in items:
        if item.location is not None:
            by_target.setdefault(_target_key(item.location), []).append(item)
    result = []
    for item in items:
        if item.location is not None:
            rivals = by_target[_target_key(item.location)]
            if len(rivals) > 1:
                names = ", ".join(str(r.source) for r in rivals)
                item = PlanItem(
                    item.source,
                    refusal=f"{len(rivals)} incoming files ({names}) are for the same photo "
                    f"{item.location.photo.name}; keep one",
                )
        result.append(item)
    return tuple(result)


@dataclass(frozen=True)
class _Prepared:
    location: SidecarLocation
    current: Snapshot
    data: bytes
    changes: CrsChanges


def _read_source(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(DEFAULT_MAX_BYTES + 1)
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
    """Chunks of (item, merge result) in plan order, merged a few chunks ahead of the consumer."""
    chunks = [items[i : i + CHUNK_SIZE] for i in range(0, len(items), CHUNK_SIZE)]
    upcoming = iter(chunks)
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


def preview_plan(
    plan: MergePlan, now: datetime, *, on_result: ResultCallback | None = None
) -> MergeReport:
    """A dry run: the statuses and crs changes a real run would produce; nothing is written."""
    results = []
    for chunk in _merged_chunks(plan.items, now):
        for item, prepared in chunk:
            result = prepared if isinstance(prepared, ItemResult) else _written(item, prepared)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return MergeReport(None, True, tuple(results))


def apply_plan(
    plan: MergePlan,
    journal: Journal,
    now: datetime,
    *,
    on_result: ResultCallback | None = None,
    before_replace: BeforeReplace | None = None,
    merge_id: str | None = None,
) -> MergeReport:
    """Merge and write every planned file: backups + journal first, then safe replaces.

    ``merge_id`` continues a merge (a resumed job): its entries are added to it.

    Files go in chunks, merged ahead (see :func:`_mergers`) while earlier chunks are written.
    A chunk's backups are written and journaled in one transaction, then its targets are
    published by a few threads so that their fsyncs overlap (the file system commits them
    together) instead of queueing one by one.
    ``before_replace`` is passed to :func:`publish` (a seam for concurrent-writer tests).
    """
    merge_id = merge_id or new_merge_id(now)
    results: list[ItemResult] = []
    with ThreadPoolExecutor(IO_THREADS, thread_name_prefix="merge-io") as pool:
        ctx = _ChunkContext(journal, merge_id, plan.into_dir, now, pool, before_replace)
        for chunk in _merged_chunks(plan.items, now):
            for result in _write_chunk(chunk, ctx):
                results.append(result)
                if on_result is not None:
                    on_result(result)
        written = {
            r.sidecar.parent
            for r in results
            if r.sidecar is not None and r.status in (ItemStatus.CREATED, ItemStatus.UPDATED)
        }
        # Once per folder, not per file: until then a crash may undo a rename, which leaves
        # the old sidecar in place; the journal (judging by bytes) copes with either.
        list(pool.map(fsync_dir, written))
    return MergeReport(merge_id if written else None, False, tuple(results))


@dataclass(frozen=True)
class _ChunkContext:
    journal: Journal
    merge_id: str
    into_dir: Path
    now: datetime
    pool: ThreadPoolExecutor
    before_replace: BeforeReplace | None


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
            ctx.journal.forget(ctx.merge_id, [s for s, e in zip(seqs, errors, strict=True) if e])
            for (item, p), error in zip(writes, errors, strict=True):
                outcome[id(p)] = _failed(item, p, error) if error else _written(item, p)
    return [outcome[id(p)] if isinstance(p, _Prepared) else p for _, p in chunk]


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
