"""Merge, undo and journal results as JSON-ready models: what ``merge --json`` and
``undo --json`` print and what ``POST /v1/merge`` and ``POST /v1/undo`` answer.

One definition for both adapters, so a script can switch between the CLI and the HTTP API
without noticing. Every path goes through :func:`shown`: a file name that is not valid UTF-8
still yields valid JSON.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from bridge import APP_NAME
from bridge.xmp.batch import ItemResult, ItemStatus, MergePlan, MergeReport, MergeTally
from bridge.xmp.journal import MergeSummary, UndoReport
from bridge.xmp.sidecar import Naming

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(value: object) -> str:
    """A file name safe to print: undecodable bytes and control characters made visible."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _path(value: Path | None) -> str | None:
    return None if value is None else shown(value)


class CrsChangesView(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[str]


class MergeItemView(BaseModel):
    source: str
    status: ItemStatus
    photo: str | None
    sidecar: str | None
    reason: str | None
    changes: CrsChangesView


class MergeCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    refused: int
    failed: int


class MergeResult(BaseModel):
    """A merge (or its dry run): ``merge_id`` is what undo takes, null when nothing was written;
    ``ok``: nothing was refused or failed."""

    ok: bool
    merge_id: str | None
    dry_run: bool
    into: str
    naming: Naming
    counts: MergeCounts
    undo: str | None
    items: list[MergeItemView]


class UndoItemView(BaseModel):
    sidecar: str
    outcome: str
    reason: str | None


class UndoResult(BaseModel):
    """``ok`` and ``complete``: every file of the merge is back as it was before it."""

    ok: bool
    merge_id: str
    complete: bool
    items: list[UndoItemView]


class MergeSummaryView(BaseModel):
    merge_id: str
    created_at: str
    into: str
    created: int
    updated: int
    state: str
    undone_at: str | None


class MergeList(BaseModel):
    """Every merge that wrote something, newest first."""

    merges: list[MergeSummaryView]


def merge_result(
    plan: MergePlan, report: MergeReport | MergeTally, *, program: str = APP_NAME
) -> MergeResult:
    """``program`` is how the ``undo`` hint names this program. A :class:`MergeTally` (a
    streamed merge) has no items here: they were handed on one by one (:func:`merge_item`)."""
    return MergeResult(
        ok=report.ok,
        merge_id=report.merge_id,
        dry_run=report.dry_run,
        into=shown(plan.into_dir),
        naming=plan.naming,
        counts=MergeCounts(**{status.value: report.count(status) for status in ItemStatus}),
        undo=f"{program} undo {report.merge_id}" if report.merge_id else None,
        items=[merge_item(item) for item in report.items]
        if isinstance(report, MergeReport)
        else [],
    )


def merge_item(item: ItemResult) -> MergeItemView:
    """One file of a merge, as ``items`` lists it."""
    return MergeItemView(
        source=shown(item.source),
        status=item.status,
        photo=_path(item.photo),
        sidecar=_path(item.sidecar),
        reason=None if item.reason is None else shown(item.reason),
        changes=CrsChangesView(
            added=list(item.changes.added),
            removed=list(item.changes.removed),
            changed=list(item.changes.changed),
        ),
    )


def undo_result(report: UndoReport) -> UndoResult:
    return UndoResult(
        ok=report.complete,
        merge_id=report.merge_id,
        complete=report.complete,
        items=[
            UndoItemView(
                sidecar=shown(item.sidecar),
                outcome=item.outcome.value,
                reason=None if item.reason is None else shown(item.reason),
            )
            for item in report.items
        ],
    )


def merge_summary(summary: MergeSummary) -> MergeSummaryView:
    return MergeSummaryView(
        merge_id=summary.merge_id,
        created_at=summary.created_at.isoformat(),
        into=shown(summary.into_dir),
        created=summary.created,
        updated=summary.updated,
        state=summary.state,
        undone_at=summary.undone_at.isoformat() if summary.undone_at else None,
    )
