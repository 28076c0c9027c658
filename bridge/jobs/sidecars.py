"""Merge an edit's downloaded sidecars into the sidecars next to the photographer's raws.

Only ``.xmp`` outputs of RAW photos are merged (Adobe naming, ``IMG_1.CR2`` ->
``IMG_1.xmp``). DNG and JPEG outputs carry their XMP inside and are never
written over the originals; HDR merges are new files. Every write is journaled,
so ``imagen-bridge undo`` restores the previous sidecars byte for byte.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from bridge.jobs.events import PhotoStatus, RunResult
from bridge.jobs.plan import ImageKind
from bridge.xmp.batch import MergeReport, apply_plan, plan_pairs
from bridge.xmp.journal import Journal


def sidecar_pairs(result: RunResult) -> list[tuple[Path, Path]]:
    """(downloaded sidecar, photo) for every edited RAW photo that got a sidecar."""
    return [
        (output, photo.photo.path)
        for photo in result.photos
        if photo.status is PhotoStatus.EDITED
        and photo.photo.kind is ImageKind.RAW
        and not photo.photo.is_dng
        for output in photo.outputs
        if output.suffix.lower() == ".xmp"
    ]


def merge_sidecars(
    result: RunResult, data_dir: Path, *, now: datetime | None = None
) -> MergeReport:
    """Merge and journal every sidecar of ``result``; one file's refusal never stops the rest."""
    pairs = sidecar_pairs(result)
    if not pairs:
        return MergeReport(None, False, ())
    into = Path(os.path.commonpath([str(photo.parent) for _, photo in pairs]))
    plan = plan_pairs(pairs, into_dir=into)
    with Journal(data_dir) as journal:
        return apply_plan(plan, journal, now or datetime.now().astimezone())
