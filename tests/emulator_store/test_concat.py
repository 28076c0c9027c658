"""Files read as one (a multipart object served from its parts), against bytes joined."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.emulator.concat import Concatenation


def concatenation(folder: Path, pieces: list[bytes]) -> Concatenation:
    paths = []
    for number, piece in enumerate(pieces, start=1):
        path = folder / f"{number:05d}"
        path.write_bytes(piece)
        paths.append(path)
    return Concatenation(paths, [len(p) for p in pieces])


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=300), min_size=1, max_size=6),
    reads=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 700)), max_size=8),
)
def test_any_read_anywhere_is_the_joined_bytes(
    pieces: list[bytes], reads: list[tuple[int, int]]
) -> None:
    whole = b"".join(pieces)
    with tempfile.TemporaryDirectory() as folder:
        stream = io.BufferedReader(concatenation(Path(folder), pieces), 64)
        with stream:
            assert stream.read() == whole
            for offset, count in reads:
                stream.seek(offset)
                assert stream.read(count) == whole[offset : offset + count]
            assert stream.seek(0, io.SEEK_END) == len(whole)
            assert stream.read(1) == b""


def test_seek_from_here_and_from_the_end(tmp_path: Path) -> None:
    raw = concatenation(tmp_path, [b"abc", b"", b"defg"])
    assert raw.size == 7
    assert raw.seek(-2, io.SEEK_END) == 5
    assert raw.read(10) == b"fg"
    assert raw.seek(-4, io.SEEK_CUR) == 3
    assert raw.read(10) == b"defg"
    assert raw.read(10) == b""
    with pytest.raises(ValueError, match="negative"):
        raw.seek(-1)


def test_a_part_shorter_than_recorded_is_an_error_not_short_data(tmp_path: Path) -> None:
    raw = concatenation(tmp_path, [b"abc", b"def"])
    (tmp_path / "00002").write_bytes(b"d")
    raw.seek(4)
    with pytest.raises(OSError, match="shorter than recorded"):
        raw.read(2)
