"""Find the XMP packet inside a DNG/TIFF (tag 700 in IFD0) or a JPEG (APP1 segment).

The container is as untrusted as the packet: every offset and count is checked against the
data before it is used, so a hostile file yields an XmpContainerError, never an IndexError
or a huge allocation. JPEG ExtendedXMP segments are ignored: the main packet carries the
develop settings Lightroom reads, and the extension only holds overflow Adobe writes when a
packet exceeds 64 KB.
"""

from __future__ import annotations

import struct

from bridge.xmp.errors import XmpContainerError, XmpSecurityError
from bridge.xmp.packet import DEFAULT_MAX_BYTES

_TIFF_XMP_TAG = 700
_TIFF_BYTE_TYPES = {1: "BYTE", 7: "UNDEFINED"}
_JPEG_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_APP1 = 0xE1
_JPEG_SOS = 0xDA
_JPEG_EOI = 0xD9
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def extract_embedded_xmp(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The raw XMP packet bytes embedded in a DNG/TIFF or JPEG file's contents."""
    head = bytes(data[:4])
    if head in (b"II*\x00", b"MM\x00*"):
        return _from_tiff(data, max_bytes)
    if head in (b"II+\x00", b"MM\x00+"):
        raise XmpContainerError("BigTIFF files are not supported for embedded XMP")
    if head[:2] == b"\xff\xd8":
        return _from_jpeg(data, max_bytes)
    raise XmpContainerError("not a DNG/TIFF or JPEG file: unknown file signature")


def _need(data: bytes, offset: int, length: int, what: str) -> None:
    if offset < 0 or length < 0 or offset + length > len(data):
        raise XmpContainerError(
            f"file is truncated or corrupt: {what} at offset {offset} ({length} bytes) lies "
            f"outside the {len(data)}-byte file"
        )


def _packet(payload: bytes) -> bytes:
    packet = bytes(payload).rstrip(b"\x00")
    if not packet.strip():
        raise XmpContainerError("the embedded XMP packet is empty")
    return packet


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise XmpSecurityError(
            f"embedded XMP packet claims {size} bytes, over the {max_bytes} byte limit"
        )


def _from_tiff(data: bytes, max_bytes: int) -> bytes:
    order = "<" if data[:2] == b"II" else ">"
    _need(data, 4, 4, "the IFD0 offset")
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    _need(data, ifd, 2, "IFD0")
    (count,) = struct.unpack_from(order + "H", data, ifd)
    _need(data, ifd + 2, count * 12, f"IFD0's {count} entries")
    for index in range(count):
        entry = ifd + 2 + index * 12
        tag, kind, length, offset = struct.unpack_from(order + "HHII", data, entry)
        if tag != _TIFF_XMP_TAG:
            continue
        if kind not in _TIFF_BYTE_TYPES:
            raise XmpContainerError(
                f"TIFF tag 700 (XMP) has field type {kind}; expected BYTE or UNDEFINED"
            )
        _check_size(length, max_bytes)
        if length <= 4:
            return _packet(data[entry + 8 : entry + 8 + length])
        _need(data, offset, length, "the XMP packet (tag 700)")
        return _packet(data[offset : offset + length])
    raise XmpContainerError("the DNG/TIFF file has no embedded XMP (no tag 700 in IFD0)")


def _from_jpeg(data: bytes, max_bytes: int) -> bytes:
    position = 2
    size = len(data)
    while position < size:
        if data[position] != 0xFF:
            raise XmpContainerError(
                f"JPEG is corrupt: expected a segment marker at offset {position}"
            )
        while position < size and data[position] == 0xFF:
            position += 1  # fill bytes may precede a marker
        if position >= size:
            break
        marker = data[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (_JPEG_SOS, _JPEG_EOI):
            break  # XMP lives in the header, before the image data
        _need(data, position, 2, f"the length of segment 0x{marker:02X}")
        (length,) = struct.unpack_from(">H", data, position)
        if length < 2:
            raise XmpContainerError(
                f"JPEG is corrupt: segment 0x{marker:02X} at offset {position} has length {length}"
            )
        _need(data, position, length, f"segment 0x{marker:02X}")
        payload = data[position + 2 : position + length]
        if marker == _JPEG_APP1 and payload.startswith(_JPEG_XMP_ID):
            _check_size(len(payload) - len(_JPEG_XMP_ID), max_bytes)
            return _packet(payload[len(_JPEG_XMP_ID) :])
        position += length
    raise XmpContainerError("the JPEG file has no embedded XMP (no APP1 XMP segment)")
