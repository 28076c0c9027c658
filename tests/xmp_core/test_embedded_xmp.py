"""Embedded XMP from DNG/TIFF (both byte orders) and JPEG; hostile containers refused."""

from __future__ import annotations

import struct

import pytest

from bridge.xmp.develop import develop_settings
from bridge.xmp.embedded import extract_embedded_xmp
from bridge.xmp.errors import XmpContainerError, XmpSecurityError
from bridge.xmp.packet import parse_xmp

from .xmp_builders import imagen_packet, jpeg_segment, jpeg_with_xmp, tiff_with_xmp

PACKET = imagen_packet("IMG_7.dng")


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("field_type", [1, 7])
def test_tiff_and_dng_in_both_byte_orders(little_endian: bool, field_type: int) -> None:
    data = tiff_with_xmp(PACKET, little_endian=little_endian, field_type=field_type)
    assert extract_embedded_xmp(data) == PACKET
    table = develop_settings(parse_xmp(extract_embedded_xmp(data)), is_raw=True)
    assert table["Exposure2012"] == 0.35


def test_trailing_nul_padding_is_trimmed() -> None:
    assert extract_embedded_xmp(tiff_with_xmp(PACKET + b"\x00" * 9)) == PACKET


def test_tiny_inline_value() -> None:
    assert extract_embedded_xmp(tiff_with_xmp(b"<a/>")) == b"<a/>"


def test_jpeg_app1_found_and_extended_xmp_ignored() -> None:
    data = jpeg_with_xmp(PACKET)
    assert extract_embedded_xmp(data) == PACKET


def test_jpeg_fill_bytes_and_standalone_markers() -> None:
    data = jpeg_with_xmp(PACKET)
    patched = data[:2] + b"\xff\xff\xff\xd0" + data[2:]
    assert extract_embedded_xmp(patched) == PACKET


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (tiff_with_xmp(None), "no embedded XMP (no tag 700"),
        (jpeg_with_xmp(None), "no embedded XMP (no APP1"),
        (b"\xff\xd8\xff\xd9", "no embedded XMP"),
        (b"GIF89a" + b"\x00" * 20, "unknown file signature"),
        (b"", "unknown file signature"),
        (b"II+\x00" + b"\x00" * 12, "BigTIFF"),
        (tiff_with_xmp(PACKET, field_type=2), "field type 2"),
        (tiff_with_xmp(b"  \x00\x00"), "empty"),
    ],
)
def test_missing_or_unsupported(data: bytes, needle: str) -> None:
    with pytest.raises(XmpContainerError, match=needle.replace("(", r"\(")):
        extract_embedded_xmp(data)


def _tiff_xmp_entry_offset(data: bytes) -> int:
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        if struct.unpack_from("<H", data, entry)[0] == 700:
            return entry
    raise AssertionError("no tag 700")


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_hostile_tiffs() -> None:
    good = tiff_with_xmp(PACKET)
    entry = _tiff_xmp_entry_offset(good)
    hostile = [
        good[:6],  # header cut inside the IFD0 offset
        _patched(good, 4, "<I", 0xFFFFFFF0),  # IFD0 far beyond the end
        _patched(good, 4, "<I", len(good) - 1),  # IFD0 count cut in half
        _patched(good, 8, "<H", 0xFFFF),  # 65535 entries claimed
        _patched(good, entry + 8, "<I", len(good) - 10),  # packet runs past the end
        _patched(good, entry + 8, "<I", 0xFFFFFFFF),  # packet offset overflow
        good[: len(good) // 2],  # truncated file
    ]
    for data in hostile:
        with pytest.raises(XmpContainerError, match="truncated or corrupt"):
            extract_embedded_xmp(data)


def test_huge_claimed_count_is_a_security_error_without_allocation() -> None:
    good = tiff_with_xmp(PACKET)
    entry = _tiff_xmp_entry_offset(good)
    with pytest.raises(XmpSecurityError, match="over the"):
        extract_embedded_xmp(_patched(good, entry + 4, "<I", 0xFFFFFFFF))
    with pytest.raises(XmpSecurityError):
        extract_embedded_xmp(jpeg_with_xmp(PACKET), max_bytes=100)


def test_hostile_jpegs() -> None:
    good = jpeg_with_xmp(PACKET)
    xmp_at = good.index(b"http://ns.adobe.com/xap/1.0/") - 4
    cases = {
        "truncated or corrupt": [
            good[: xmp_at + 3],  # length cut in half
            good[: xmp_at + 200],  # segment shorter than its length
            b"\xff\xd8\xff\xe1\xff\xff" + b"x" * 10,  # length runs past the end
        ],
        "has length 1": [b"\xff\xd8" + b"\xff\xe1\x00\x01" + b"x" * 10],
        "expected a segment marker": [b"\xff\xd8\x00\x00\xff\xe1"],
    }
    for needle, datas in cases.items():
        for data in datas:
            with pytest.raises(XmpContainerError, match=needle):
                extract_embedded_xmp(data)


def test_xmp_after_the_scan_is_not_searched() -> None:
    head = b"\xff\xd8" + b"\xff\xda\x00\x02"
    data = head + jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + PACKET)
    with pytest.raises(XmpContainerError, match="no embedded XMP"):
        extract_embedded_xmp(data)
