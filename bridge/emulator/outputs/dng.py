"""A small but valid DNG: one linear-RGB image IFD carrying the edit's XMP in TIFF tag 700.

Enough for exiftool, Lightroom's "read metadata" and the bridge's embedded-XMP reader; the
pixels are a tiny preview, not a real raw. HDR ``LOSSLESS`` output stores 16-bit samples,
``LOSSY`` 8-bit, so the compression choice is visible in the file.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from bridge.emulator.outputs.jpeg_encoder import Pixel

_BYTE, _ASCII, _SHORT, _LONG, _SRATIONAL, _RATIONAL = 1, 2, 3, 4, 10, 5
_SIZES = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, _SRATIONAL: 8}
_PHOTOMETRIC_LINEAR_RAW = 34892
# XYZ (D65) -> linear sRGB, what a camera that records sRGB primaries would report.
_COLOR_MATRIX = (
    (32406, -15372, -4986),
    (-9689, 18758, 415),
    (557, -2040, 10570),
)

TagValue = tuple[int, int, bytes]  # (type, count, packed little-endian value)


def _pack(kind: int, values: Sequence[int]) -> TagValue:
    formats = {_BYTE: "B", _SHORT: "H", _LONG: "I"}
    return kind, len(values), struct.pack(f"<{len(values)}{formats[kind]}", *values)


def _ascii(text: str) -> TagValue:
    data = text.encode("ascii") + b"\0"
    return _ASCII, len(data), data


def write_dng(
    width: int,
    height: int,
    pixels: Sequence[Pixel],
    xmp: bytes,
    *,
    model: str,
    sixteen_bit: bool = False,
) -> bytes:
    bits = 16 if sixteen_bit else 8
    if sixteen_bit:
        image = b"".join(struct.pack("<3H", *(c * 257 for c in pixel)) for pixel in pixels)
    else:
        image = b"".join(bytes(pixel) for pixel in pixels)
    white = 65535 if sixteen_bit else 255
    matrix = b"".join(struct.pack("<ii", value, 10000) for row in _COLOR_MATRIX for value in row)
    tags: dict[int, TagValue] = {
        254: _pack(_LONG, [0]),  # NewSubFileType: main image
        256: _pack(_LONG, [width]),
        257: _pack(_LONG, [height]),
        258: _pack(_SHORT, [bits] * 3),
        259: _pack(_SHORT, [1]),  # uncompressed
        262: _pack(_SHORT, [_PHOTOMETRIC_LINEAR_RAW]),
        271: _ascii("Imagen AI"),
        272: _ascii(model),
        273: _pack(_LONG, [0]),  # StripOffsets: patched below
        274: _pack(_SHORT, [1]),
        277: _pack(_SHORT, [3]),
        278: _pack(_LONG, [height]),
        279: _pack(_LONG, [len(image)]),
        284: _pack(_SHORT, [1]),
        305: _ascii("Imagen AI emulator"),
        700: (_BYTE, len(xmp), xmp),
        50706: _pack(_BYTE, [1, 4, 0, 0]),  # DNGVersion
        50707: _pack(_BYTE, [1, 1, 0, 0]),  # DNGBackwardVersion
        50708: _ascii(f"Imagen AI {model}"),  # UniqueCameraModel
        50717: _pack(_LONG, [white]),  # WhiteLevel
        50721: (_SRATIONAL, 9, matrix),  # ColorMatrix1
        50728: (_RATIONAL, 3, struct.pack("<6I", 1, 1, 1, 1, 1, 1)),  # AsShotNeutral
        50778: _pack(_SHORT, [21]),  # CalibrationIlluminant1: D65
    }
    ifd_offset = 8
    ifd_size = 2 + 12 * len(tags) + 4
    data_offset = ifd_offset + ifd_size
    extra = bytearray()
    image_offset = data_offset + sum(
        len(value) + len(value) % 2 for _, _, value in tags.values() if len(value) > 4
    )
    tags[273] = _pack(_LONG, [image_offset])
    entries = bytearray(struct.pack("<H", len(tags)))
    for tag in sorted(tags):
        kind, count, value = tags[tag]
        assert len(value) == count * _SIZES[kind]
        if len(value) <= 4:
            entries += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            entries += struct.pack("<HHII", tag, kind, count, data_offset + len(extra))
            extra += value + b"\0" * (len(value) % 2)  # keep offsets word-aligned
    entries += struct.pack("<I", 0)  # no next IFD
    assert data_offset + len(extra) == image_offset
    return b"II*\0" + struct.pack("<I", ifd_offset) + bytes(entries) + bytes(extra) + image
