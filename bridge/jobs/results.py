"""What a finished photo gives back: its develop settings, and its sidecar merged next to it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from bridge.xmp.batch import ItemResult, plan_pairs, stream_merge
from bridge.xmp.develop import develop_settings
from bridge.xmp.embedded import extract_embedded_xmp
from bridge.xmp.errors import XmpError
from bridge.xmp.journal import Journal
from bridge.xmp.packet import DEFAULT_MAX_BYTES, parse_xmp
from bridge.xmp.sidecar import Naming

MAX_OUTPUT_READ = 512 * 2**20  # a returned DNG may be big; its XMP sits in the first bytes


def develop_settings_of(kind: str | None, outputs: Sequence[str]) -> dict[str, Any] | None:
    """The table ``photo:applyDevelopSettings`` takes, from the photo's returned file.

    Raws: the returned sidecar, or for a frame of an HDR merge the merged DNG's embedded
    XMP. DNG and JPEG: the XMP embedded in the returned file. None when there is no such
    output or it cannot be read.
    """
    wanted = {
        "RAW": (".xmp", ".dng"),
        "DNG": (".dng",),
        "JPEG": (".jpg", ".jpeg"),
    }.get(kind or "", ())
    for suffix in wanted:  # in order of preference
        for output in outputs:
            if output.lower().endswith(suffix):
                path = Path(output)
                try:
                    st = path.stat()
                except OSError:
                    continue
                return _settings(path, st.st_mtime_ns, st.st_size, kind in ("RAW", "DNG"))
    return None


@lru_cache(maxsize=4096)
def _settings(path: Path, mtime_ns: int, size: int, is_raw: bool) -> dict[str, Any] | None:
    """Cached by file identity: a long poll asks for the same settings again and again."""
    try:
        with path.open("rb") as handle:
            data = handle.read(min(size, MAX_OUTPUT_READ))
        packet = data if path.suffix.lower() == ".xmp" else extract_embedded_xmp(data)
        return develop_settings(parse_xmp(packet, max_bytes=DEFAULT_MAX_BYTES), is_raw=is_raw)
    except (OSError, XmpError):
        return None


def merge_photos(
    pairs: Sequence[tuple[Path, Path, int]],
    data_dir: Path,
    merge_id: str,
    naming: str,
) -> dict[int, dict[str, str | None]]:
    """Merge each (returned sidecar, photo, photo index) under ``merge_id``; results by index.

    Runs again after a restart with the same ``merge_id``: a sidecar merged before is
    reported unchanged and not written (nor backed up) a second time.
    """
    if not pairs:
        return {}
    into = Path(os.path.commonpath([str(photo.parent) for _, photo, _ in pairs]))
    plan = plan_pairs([(s, p) for s, p, _ in pairs], into_dir=into, naming=Naming(naming))
    index_of = {source: index for source, _, index in pairs}
    results: dict[int, dict[str, str | None]] = {}

    def keep(item: ItemResult) -> None:  # the outcome only, not the crs changes of each file
        if item.source in index_of:
            results[index_of[item.source]] = {
                "status": item.status.value,
                "path": str(item.sidecar) if item.sidecar else None,
                "reason": item.reason,
            }

    with Journal(data_dir) as journal:
        stream_merge(plan, datetime.now().astimezone(), keep, journal=journal, merge_id=merge_id)
    return results
