"""Put an XMP packet into a JPEG as the standard APP1 segment, replacing any XMP already there.

Only the header segments are parsed; the compressed image data is copied through in chunks,
so a large JPEG is never held in memory.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\0"
_EXTENDED_XMP_SIGNATURE = b"http://ns.adobe.com/xmp/extension/\0"
_MAX_SEGMENT_PAYLOAD = 65533  # 16-bit length field minus its own two bytes
_CHUNK = 1 << 20


class NotAJpegError(ValueError):
    """The input is not a JPEG whose header segments can be read."""


def xmp_segment(xmp: bytes) -> bytes:
    payload = XMP_SIGNATURE + xmp
    if len(payload) > _MAX_SEGMENT_PAYLOAD:
        raise ValueError(f"XMP packet of {len(xmp)} bytes does not fit one APP1 segment")
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _read_exact(src: BinaryIO, size: int) -> bytes:
    data = src.read(size)
    if len(data) != size:
        raise NotAJpegError("the JPEG header ends early")
    return data


def embed_xmp(src: BinaryIO, dst: BinaryIO, xmp: bytes) -> None:
    """Copy ``src`` to ``dst`` with ``xmp`` as its XMP APP1, after the JFIF/Exif segments."""
    if src.read(2) != b"\xff\xd8":
        raise NotAJpegError("missing the JPEG start-of-image marker")
    dst.write(b"\xff\xd8")
    inserted = False
    while True:
        marker = _read_exact(src, 2)
        if marker[0] != 0xFF:
            raise NotAJpegError("expected a marker in the JPEG header")
        while marker[1] == 0xFF:  # fill bytes before a marker
            marker = marker[1:] + _read_exact(src, 1)
        code = marker[1]
        if code in (0xD8, 0xD9) or 0xD0 <= code <= 0xD7 or code == 0x01:
            raise NotAJpegError(f"unexpected marker FF{code:02X} in the JPEG header")
        length_bytes = _read_exact(src, 2)
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            raise NotAJpegError("a JPEG segment has an impossible length")
        payload = _read_exact(src, length - 2)
        is_app0_or_app1 = code in (0xE0, 0xE1)
        is_xmp = code == 0xE1 and payload.startswith((XMP_SIGNATURE, _EXTENDED_XMP_SIGNATURE))
        if not inserted and not is_app0_or_app1:
            dst.write(xmp_segment(xmp))
            inserted = True
        if not is_xmp:
            dst.write(marker + length_bytes + payload)
        if code == 0xDA:  # start of scan: the rest is image data
            break
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
