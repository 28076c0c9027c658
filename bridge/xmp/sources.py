"""Which incoming sidecars a merge takes: the files given, and the .xmp files of the folders
given (with their subfolders when asked). Shared by ``merge`` and ``POST /v1/merge``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bridge.xmp.batch import collect_sources
from bridge.xmp.formats import SIDECAR_EXTENSION, split_name
from bridge.xmp.reports import shown


class SourceError(ValueError):
    """No incoming sidecar could be found; the message says where to look."""


def find_sources(paths: Sequence[Path], *, recursive: bool, deeper_hint: str) -> Sequence[Path]:
    """The incoming .xmp files: files as given, folders expanded (``recursive``: subfolders
    too; hidden ones are skipped). Nothing found is a SourceError that says where to look;
    ``deeper_hint`` says how the caller asks for subfolders (a flag, a JSON field).
    """
    expanded: list[Path] = []
    for path in paths:
        expanded.append(path)
        if recursive and path.is_dir():
            expanded += _folders_below(path)
    try:
        files = collect_sources(expanded)
    except OSError as exc:
        raise SourceError(shown(exc)) from exc
    if files:
        return files
    if not recursive:
        deeper = {
            sub: len(found)
            for path in paths
            if path.is_dir()
            for sub in _subfolders(path)
            if (found := _sidecars_below(sub))
        }
        if deeper:
            where = ", ".join(f"{shown(sub)}{os.sep}" for sub in sorted(deeper)[:3])
            more = ", ..." if len(deeper) > 3 else ""
            total = sum(deeper.values())
            count = f"{total} .xmp file{'' if total == 1 else 's'}"
            raise SourceError(
                f"no .xmp files directly in the given folders, but {count} in their "
                f"subfolders ({where}{more}): {deeper_hint} to merge those"
            )
    given = ", ".join(shown(p) for p in paths[:3]) + (", ..." if len(paths) > 3 else "")
    below = " or their subfolders" if recursive else ""
    raise SourceError(f"no .xmp files found in {given}{below}")


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")
            )
    except OSError:
        return []


def _folders_below(folder: Path) -> list[Path]:
    """Every subfolder of ``folder``, however deep (hidden ones skipped), sorted."""
    found: list[Path] = []
    for root, dirs, _ in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += (Path(root) / d for d in dirs)
    return found


def _sidecars_below(folder: Path) -> list[Path]:
    """Every .xmp file in ``folder`` and its subfolders (hidden ones skipped), sorted."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += sorted(
            Path(root) / n
            for n in names
            if not n.startswith(".") and split_name(n)[1] == SIDECAR_EXTENSION
        )
    return found
