"""A small baseline JPEG encoder, so exports are real JPEGs without an imaging library at run time.

Baseline DCT, 8-bit, YCbCr 4:4:4, the example quantisation and Huffman tables of ITU-T T.81
Annex K. Written for tiny images (previews of a few thousand pixels); speed is not a goal.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from operator import mul

Pixel = tuple[int, int, int]

_LUMA_QUANT = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA_QUANT = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32  # fmt: skip

_DC_LUMA_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_CHROMA_BITS = (0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
_AC_LUMA_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
_AC_LUMA_VALUES = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f0"
    "2433627282090a161718191a25262728292a3435363738393a434445464748494a"
    "535455565758595a636465666768696a737475767778797a838485868788898a"
    "92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6"
    "c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa"
)
_AC_CHROMA_BITS = (0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77)
_AC_CHROMA_VALUES = bytes.fromhex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0"
    "156272d10a162434e125f11718191a262728292a35363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a828384858687"
    "88898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3"
    "c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa"
)

_ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip

# cos((2x+1) u pi / 16) scaled by C(u)/2, so a 1-D DCT row is one dot product per u.
_DCT = tuple(
    tuple(
        (math.sqrt(0.5) if u == 0 else 1.0) / 2 * math.cos((2 * x + 1) * u * math.pi / 16)
        for x in range(8)
    )
    for u in range(8)
)


def _scaled(table: Sequence[int], quality: int) -> tuple[int, ...]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(255, max(1, (q * scale + 50) // 100)) for q in table)


def _huffman_codes(
    bits: Sequence[int], values: bytes | Sequence[int]
) -> dict[int, tuple[int, int]]:
    """Canonical codes (T.81 Annex C): symbol -> (code, length)."""
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    index = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, code: int, length: int) -> None:
        self._acc = (self._acc << length) | (code & ((1 << length) - 1))
        self._n += length
        while self._n >= 8:
            self._n -= 8
            byte = (self._acc >> self._n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)  # byte stuffing
        self._acc &= (1 << self._n) - 1

    def flush(self) -> bytes:
        if self._n:
            self.write((1 << (8 - self._n)) - 1, 8 - self._n)  # pad with 1 bits
        return bytes(self.out)


def _fdct(block: Sequence[float]) -> list[float]:
    """Separable 2-D DCT-II of one 8x8 block (row-major in, row-major out)."""
    rows = [block[y * 8 : y * 8 + 8] for y in range(8)]
    transformed = [[sum(map(mul, basis, row)) for basis in _DCT] for row in rows]
    out = [0.0] * 64
    for u, column in enumerate(zip(*transformed, strict=True)):
        for v, basis in enumerate(_DCT):
            out[v * 8 + u] = sum(map(mul, basis, column))
    return out


def _magnitude(value: int) -> tuple[int, int]:
    """(size category, extra bits) of a DC difference or AC coefficient."""
    size = abs(value).bit_length()
    bits = value if value >= 0 else value + (1 << size) - 1
    return size, bits


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def encode_jpeg(width: int, height: int, pixels: Sequence[Pixel], *, quality: int = 90) -> bytes:
    """Encode row-major RGB ``pixels`` as a baseline JFIF JPEG."""
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise ValueError("pixels must hold width * height RGB triples")
    if not 1 <= quality <= 100:
        raise ValueError("quality must be 1..100")
    quants = (_scaled(_LUMA_QUANT, quality), _scaled(_CHROMA_QUANT, quality))
    dc_codes = (
        _huffman_codes(_DC_LUMA_BITS, _DC_VALUES),
        _huffman_codes(_DC_CHROMA_BITS, _DC_VALUES),
    )
    ac_codes = (
        _huffman_codes(_AC_LUMA_BITS, _AC_LUMA_VALUES),
        _huffman_codes(_AC_CHROMA_BITS, _AC_CHROMA_VALUES),
    )
    planes: tuple[list[float], list[float], list[float]] = ([], [], [])
    for r, g, b in pixels:
        planes[0].append(0.299 * r + 0.587 * g + 0.114 * b - 128)
        planes[1].append(-0.168736 * r - 0.331264 * g + 0.5 * b)
        planes[2].append(0.5 * r - 0.418688 * g - 0.081312 * b)

    writer = _BitWriter()
    previous_dc = [0, 0, 0]
    for block_y in range(0, height, 8):
        for block_x in range(0, width, 8):
            for component, plane in enumerate(planes):
                table = 0 if component == 0 else 1
                block = [
                    plane[min(block_y + y, height - 1) * width + min(block_x + x, width - 1)]
                    for y in range(8)
                    for x in range(8)
                ]
                coefficients = _fdct(block)
                quant = quants[table]
                zigzag = [round(coefficients[k] / quant[k]) for k in _ZIGZAG]
                size, bits = _magnitude(zigzag[0] - previous_dc[component])
                previous_dc[component] = zigzag[0]
                writer.write(*dc_codes[table][size])
                writer.write(bits, size)
                run = 0
                for value in zigzag[1:]:
                    if value == 0:
                        run += 1
                        continue
                    while run > 15:
                        writer.write(*ac_codes[table][0xF0])
                        run -= 16
                    size, bits = _magnitude(value)
                    writer.write(*ac_codes[table][(run << 4) | size])
                    writer.write(bits, size)
                    run = 0
                if run:
                    writer.write(*ac_codes[table][0x00])
    entropy = writer.flush()

    out = bytearray(b"\xff\xd8")
    out += _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    for index, quant in enumerate(quants):
        out += _segment(0xDB, bytes([index]) + bytes(quant[k] for k in _ZIGZAG))
    out += _segment(
        0xC0,
        struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]),
    )
    tables: tuple[tuple[int, Sequence[int], bytes | Sequence[int]], ...] = (
        (0x00, _DC_LUMA_BITS, _DC_VALUES),
        (0x10, _AC_LUMA_BITS, _AC_LUMA_VALUES),
        (0x01, _DC_CHROMA_BITS, _DC_VALUES),
        (0x11, _AC_CHROMA_BITS, _AC_CHROMA_VALUES),
    )
    for class_and_index, counts, values in tables:
        out += _segment(0xC4, bytes([class_and_index, *counts, *values]))
    out += _segment(0xDA, bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]))
    out += entropy
    out += b"\xff\xd9"
    return bytes(out)
