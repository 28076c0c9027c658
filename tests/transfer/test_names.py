"""Server-chosen file names can never place a file outside the chosen folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.transfer import safe_file_name
from bridge.transfer.names import contained_path


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("IMG_0001.xmp", "IMG_0001.xmp"),
        ("../../x.xmp", "x.xmp"),
        ("/etc/x", "x"),
        ("C:\\x\\y.xmp", "y.xmp"),
        ("C:y.xmp", "y.xmp"),
        ("..\\..\\evil.xmp", "evil.xmp"),
        ("a/b\\c/d.dng", "d.dng"),
        ("Hochzeit Müller 東京 🎉.xmp", "Hochzeit Müller 東京 🎉.xmp"),
        (".hidden.xmp", ".hidden.xmp"),
    ],
)
def test_names_reduce_to_their_base_name(server_name: str, expected: str) -> None:
    assert safe_file_name(server_name) == expected


@pytest.mark.parametrize(
    ("server_name", "reason"),
    [
        ("", "does not name a file"),
        (".", "does not name a file"),
        ("..", "does not name a file"),
        ("../", "does not name a file"),
        ("dir/", "does not name a file"),
        ("C:\\", "does not name a file"),
        ("a\x00b.xmp", "control characters"),
        ("a\nb.xmp", "control characters"),
        ("a\x1bb.xmp", "control characters"),
        ("a.xmp:stream", "':'"),
        ("x.xmp.", "ends with a dot or space"),
        ("x.xmp ", "ends with a dot or space"),
        ("CON", "reserved device name"),
        ("nul.xmp", "reserved device name"),
        ("COM1.txt", "reserved device name"),
        ("ü" * 128 + ".xmp", "longer than 255 bytes"),
    ],
)
def test_hostile_names_are_refused_with_a_reason(server_name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        safe_file_name(server_name)


def test_contained_path_refuses_anything_but_a_direct_child(tmp_path: Path) -> None:
    assert contained_path(tmp_path, "a.xmp") == tmp_path.resolve() / "a.xmp"
    for name in ("..", "../a", "/etc/passwd", "sub/a"):
        with pytest.raises(ValueError, match="would leave the folder"):
            contained_path(tmp_path, name)


@given(st.text(max_size=300))
def test_any_name_is_either_refused_or_a_plain_child(server_name: str) -> None:
    folder = Path("/srv/out")
    try:
        name = safe_file_name(server_name)
    except ValueError:
        return
    assert name not in ("", ".", "..")
    assert not any(sep in name for sep in ("/", "\\", "\x00", ":"))
    assert Path(folder, name).parent == folder
