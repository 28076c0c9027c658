"""Real sidecars from many writers: each parses, merges, and keeps every non-crs tag.

ExifTool is the independent oracle (``exiftool -j -G1 -a`` before vs after). It reads
nothing from the UTF-16 sample (ExifTool 12.57: "Superfluous BOM"), so for that one the
comparison uses our own parser-based snapshot, which runs for every sample anyway.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bridge.xmp.errors import XmpParseError
from bridge.xmp.merge import crs_changes, merge_crs
from bridge.xmp.packet import parse_xmp, serialize_xmp
from bridge.xmp.values import crs_values

from .xmp_builders import dates, imagen, imagen_packet, non_crs_snapshot

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "xmp-samples"
MALFORMED = {"exiv2_issue_1713_poc.xmp", "exiftool_XMP2.xmp"}
EXIFTOOL_BLIND = {"immich_dates_2000_utf16.xmp"}  # ExifTool 12.57 reads nothing from it
WELL_FORMED = sorted(p.name for p in SAMPLES.glob("*.xmp") if p.name not in MALFORMED)
NOW = datetime(2026, 11, 21, 10, 11, 12, tzinfo=timezone(timedelta(hours=1)))
IGNORED_GROUPS = ("System:", "File:", "XMP-crs:")
IGNORED_TAGS = {"SourceFile", "XMP-xmp:MetadataDate", "XMP-xmp:ModifyDate"}


def test_sample_set_is_complete(shared_dir: Path) -> None:
    assert (shared_dir / "data" / "xmp-samples") == SAMPLES
    assert len(WELL_FORMED) >= 14
    assert all((SAMPLES / name).exists() for name in MALFORMED)


@pytest.mark.parametrize("name", WELL_FORMED)
def test_sample_parses_merges_and_keeps_non_crs(name: str) -> None:
    before = parse_xmp((SAMPLES / name).read_bytes())
    incoming = imagen()
    after = merge_crs(before, incoming, now=NOW)
    assert non_crs_snapshot(after) == non_crs_snapshot(before)
    assert crs_values(after) == crs_values(incoming)
    assert set(dates(after)) == {"MetadataDate", "ModifyDate"}
    assert all(v == "2026-11-21T10:11:12+01:00" for vs in dates(after).values() for v in vs)
    reread = parse_xmp(serialize_xmp(after))
    assert non_crs_snapshot(reread) == non_crs_snapshot(before)
    assert crs_values(reread) == crs_values(incoming)
    again = merge_crs(reread, incoming, now=NOW)
    assert crs_changes(after, again).empty
    assert serialize_xmp(again) == serialize_xmp(after)  # a repeated merge is byte-identical


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_samples_are_refused(name: str) -> None:
    with pytest.raises(XmpParseError) as info:
        parse_xmp((SAMPLES / name).read_bytes())
    assert "line 1" in str(info.value) or "line 23" in str(info.value)


def _exiftool() -> str:
    found = shutil.which("exiftool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("exiftool must be installed in CI (it is the merge test oracle)")
        pytest.skip("exiftool is not installed")
    return found


def _exiftool_json(exiftool: str, files: list[Path]) -> dict[str, dict[str, Any]]:
    result = subprocess.run(
        [exiftool, "-j", "-G1", "-a", *map(str, files)],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.stdout, result.stderr
    return {entry["SourceFile"]: entry for entry in json.loads(result.stdout)}


def _non_crs_tags(tags: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in tags.items()
        if key not in IGNORED_TAGS and not key.startswith(IGNORED_GROUPS)
    }


def test_exiftool_sees_every_non_crs_tag_unchanged(tmp_path: Path) -> None:
    exiftool = _exiftool()
    incoming_file = tmp_path / "incoming.xmp"
    incoming_file.write_bytes(imagen_packet())
    incoming = parse_xmp(incoming_file.read_bytes())
    pairs: dict[str, tuple[Path, Path]] = {}
    for name in WELL_FORMED:
        data = (SAMPLES / name).read_bytes()
        before, after = tmp_path / f"before-{name}", tmp_path / f"after-{name}"
        before.write_bytes(data)
        after.write_bytes(serialize_xmp(merge_crs(parse_xmp(data), incoming, now=NOW)))
        pairs[name] = (before, after)
    files = [incoming_file] + [path for pair in pairs.values() for path in pair]
    tags = _exiftool_json(exiftool, files)
    incoming_crs = {k: v for k, v in tags[str(incoming_file)].items() if k.startswith("XMP-crs:")}
    assert len(incoming_crs) > 15
    compared = 0
    for name, (before, after) in pairs.items():
        seen_before, seen_after = tags[str(before)], tags[str(after)]
        after_crs = {k: v for k, v in seen_after.items() if k.startswith("XMP-crs:")}
        assert after_crs == incoming_crs, name
        assert seen_after["XMP-xmp:MetadataDate"] == "2026:11:21 10:11:12+01:00", name
        if name in EXIFTOOL_BLIND:
            assert "Superfluous BOM" in seen_before.get("ExifTool:Warning", "")
            assert "ExifTool:Warning" not in seen_after  # our UTF-8 output reads cleanly
            continue
        # ExifTool:Warning is compared too: the merge must not introduce any
        assert _non_crs_tags(seen_after) == _non_crs_tags(seen_before), name
        compared += 1
    assert compared == len(WELL_FORMED) - len(EXIFTOOL_BLIND)


def test_utf16_sample_after_merge_is_readable_by_exiftool(tmp_path: Path) -> None:
    """ExifTool cannot read the UTF-16 original, but reads our UTF-8 output; what it sees
    there matches what our own parser read from the original."""
    exiftool = _exiftool()
    before = parse_xmp((SAMPLES / "immich_dates_2000_utf16.xmp").read_bytes())
    after_file = tmp_path / "after.xmp"
    after_file.write_bytes(serialize_xmp(merge_crs(before, imagen(), now=NOW)))
    seen = _exiftool_json(exiftool, [after_file])[str(after_file)]
    ours = dict(non_crs_snapshot(before))
    assert seen["XMP-xmp:CreatorTool"] == ours["{http://ns.adobe.com/xap/1.0/}CreatorTool"]
    assert seen["XMP-xmp:CreateDate"] == "2000:09:27 14:35:33+02:00"
    assert ours["{http://ns.adobe.com/xap/1.0/}CreateDate"] == "2000-09-27T14:35:33+02:00"


def test_utc_now_is_written_with_an_offset() -> None:
    after = merge_crs(None, imagen(), now=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC))
    assert dates(after)["MetadataDate"] == ["2026-01-02T03:04:05+00:00"]


@pytest.mark.parametrize("name", ["exifr_IMG_5910_lightroom.xmp", "photoprism_canon_eos_6d.xmp"])
def test_merging_a_sidecars_own_crs_changes_only_its_dates(name: str) -> None:
    """Adobe-written sidecars: the new crs lands where the old crs was, laid out the same."""
    packet = parse_xmp((SAMPLES / name).read_bytes())
    merged = serialize_xmp(merge_crs(packet, packet, now=NOW)).decode()
    date = re.compile(r"(MetadataDate|ModifyDate)(=\"|>)[^\"<]*")
    assert date.sub(r"\1\2", merged) == date.sub(r"\1\2", serialize_xmp(packet).decode())
