"""What edits produce: Adobe-style XMP with each tool's effect, DNG tag 700, JPEG APP1, real JPEGs.

Everything is fetched through the API and the presigned links, then read with independent
tools: lxml for XMP, a TIFF reader written here and exiftool for DNG, Pillow for JPEG.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lxml import etree
from PIL import Image

from bridge.emulator.app import EmulatorConfig, RunningEmulator, running_emulator
from bridge.emulator.faults import FaultConfig
from bridge.emulator.outputs.develop import FRAME_HEIGHT, FRAME_WIDTH
from tests.emulator.support import (
    api,
    edit,
    get_bytes,
    jpeg_bytes,
    new_project,
    unwrap,
    wait_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
}
CRS = f"{{{NS['crs']}}}"
RAW = {"IMG_1.NEF": b"raw one" * 100, "IMG_2.NEF": b"raw two" * 100}
XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def emulator() -> AsyncIterator[RunningEmulator]:
    config = EmulatorConfig(faults=FaultConfig(processing_s=0), hdr_bracket_size=3)
    async with running_emulator(config) as running:
        yield running


async def edited(
    emulator: RunningEmulator, files: dict[str, bytes], body: dict[str, Any]
) -> dict[str, bytes]:
    async with api(emulator) as client:
        uuid = await new_project(client, files)
        status, links = await edit(client, uuid, body)
    assert status["status"] == "Completed", status
    return {name: await get_bytes(url) for name, url in links.items()}


def description(xmp: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    start = xmp.index(b"<x:xmpmeta")
    end = xmp.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")
    root = etree.fromstring(xmp[start:end], parser)
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    found = root.findall("rdf:RDF/rdf:Description", NS)
    assert len(found) == 1
    return found[0]


def crs(node: etree._Element, name: str) -> str | None:
    return node.get(CRS + name)


def corrections(node: etree._Element) -> dict[str, etree._Element]:
    items = node.findall("crs:MaskGroupBasedCorrections/rdf:Seq/rdf:li/rdf:Description", NS)
    return {str(item.get(CRS + "CorrectionName")): item for item in items}


def masks(correction: etree._Element) -> list[etree._Element]:
    return correction.findall("crs:CorrectionMasks/rdf:Seq/rdf:li/rdf:Description", NS)


async def test_sidecar_is_adobe_shaped(emulator: RunningEmulator) -> None:
    outputs = await edited(emulator, RAW, {"profile_key": 5700})
    assert sorted(outputs) == ["IMG_1.xmp", "IMG_2.xmp"]
    xmp = outputs["IMG_1.xmp"]
    assert xmp.startswith(b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>')
    assert xmp.rstrip().endswith(b'<?xpacket end="w"?>')
    node = description(xmp)
    assert crs(node, "Version") == "15.4" and crs(node, "ProcessVersion") == "11.0"
    assert crs(node, "WhiteBalance") == "Custom"
    assert 2000 <= int(crs(node, "Temperature") or 0) <= 10000
    for name in ("Tint", "Exposure2012", "Contrast2012", "Highlights2012", "Shadows2012",
                 "Whites2012", "Blacks2012", "Texture", "Clarity2012", "Dehaze", "Vibrance",
                 "Saturation", "HueAdjustmentRed", "SaturationAdjustmentAqua",
                 "LuminanceAdjustmentMagenta"):  # fmt: skip
        float(crs(node, name) or "missing")
    assert -5 <= float(crs(node, "Exposure2012") or 0) <= 5
    assert crs(node, "ToneCurveName2012") == "Custom"
    curve = [li.text for li in node.findall("crs:ToneCurvePV2012/rdf:Seq/rdf:li", NS)]
    assert len(curve) >= 2
    for point in curve:
        x, y = (int(v) for v in str(point).split(", "))
        assert 0 <= x <= 255 and 0 <= y <= 255
    assert crs(node, "RawFileName") == "IMG_1.NEF"
    assert crs(node, "HasSettings") == "True" and crs(node, "AlreadyApplied") == "False"
    assert crs(node, "HasCrop") is None and not corrections(node)


@pytest.mark.parametrize(
    ("tool", "ratio"),
    [
        ({"crop": True}, 3 / 2),
        ({"crop": True, "crop_aspect_ratio": "4X5"}, 5 / 4),
        ({"crop": True, "crop_aspect_ratio": "5X7"}, 7 / 5),
        ({"portrait_crop": True}, 4 / 5),
        ({"portrait_crop": True, "crop_aspect_ratio": "2X3"}, 2 / 3),
        ({"headshot_crop": True}, 4 / 5),
    ],
)
async def test_crop_honours_the_aspect_ratio(
    emulator: RunningEmulator, tool: dict[str, Any], ratio: float
) -> None:
    node = description((await edited(emulator, RAW, {"profile_key": 5700, **tool}))["IMG_1.xmp"])
    assert crs(node, "HasCrop") == "True"
    top, left, bottom, right = (
        float(crs(node, name) or "nan")
        for name in ("CropTop", "CropLeft", "CropBottom", "CropRight")
    )
    assert 0 <= top < bottom <= 1 and 0 <= left < right <= 1
    width, height = (right - left) * FRAME_WIDTH, (bottom - top) * FRAME_HEIGHT
    assert width / height == pytest.approx(ratio, rel=1e-3)
    assert float(crs(node, "CropAngle") or "nan") == 0


async def test_straighten_and_perspective(emulator: RunningEmulator) -> None:
    straight = description(
        (await edited(emulator, RAW, {"profile_key": 5700, "straighten": True}))["IMG_1.xmp"]
    )
    assert 0.3 <= abs(float(crs(straight, "CropAngle") or 0)) <= 5
    assert crs(straight, "HasCrop") == "True"
    upright = description(
        (await edited(emulator, RAW, {"profile_key": 5700, "perspective_correction": True}))[
            "IMG_1.xmp"
        ]
    )
    assert crs(upright, "UprightVersion") and crs(upright, "PerspectiveUpright") == "1"
    assert crs(straight, "PerspectiveUpright") is None


@pytest.mark.parametrize(
    ("tool", "correction", "what", "sub_type"),
    [
        ({"subject_mask": True}, "Subject", "Mask/Image", "1"),
        ({"smooth_skin": True}, "Smooth Skin", "Mask/Image", "3"),
        (
            {"sky_replacement": True, "sky_replacement_template_id": 2},
            "Sky Replacement",
            "Mask/Image",
            "2",
        ),
        ({"window_pull": True}, "Window Pull", "Mask/RangeMask", None),
    ],
)
async def test_mask_tools(
    emulator: RunningEmulator,
    tool: dict[str, Any],
    correction: str,
    what: str,
    sub_type: str | None,
) -> None:
    node = description((await edited(emulator, RAW, {"profile_key": 5700, **tool}))["IMG_1.xmp"])
    found = corrections(node)
    assert list(found) == [correction]
    item = found[correction]
    assert crs(item, "What") == "Correction"
    (mask,) = masks(item)
    assert crs(mask, "What") == what
    assert crs(mask, "MaskSubType") == sub_type
    if correction == "Smooth Skin":
        assert float(crs(item, "LocalTexture") or 0) < 0
        assert float(crs(item, "LocalClarity2012") or 0) < 0
    if correction == "Sky Replacement":
        assert "template 2" in str(crs(mask, "MaskName"))


def tiff_tags(data: bytes) -> dict[int, tuple[int, int, bytes]]:
    """IFD0 of a little-endian TIFF: tag -> (type, count, raw value bytes)."""
    assert data[:4] == b"II*\x00"
    (offset,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, offset)
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 10: 8}
    tags = {}
    for index in range(count):
        tag, kind, n, value = struct.unpack_from("<HHII", data, offset + 2 + 12 * index)
        length = sizes[kind] * n
        start = offset + 2 + 12 * index + 8 if length <= 4 else value
        tags[tag] = (kind, n, data[start : start + length])
    return tags


async def test_dng_in_dng_out_with_xmp_in_tag_700(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    outputs = await edited(emulator, {"IMG_7.dng": b"dng bytes" * 20}, {"profile_key": 5700})
    dng = outputs["IMG_7.dng"]
    tags = tiff_tags(dng)
    assert tags[50706][2] == bytes([1, 4, 0, 0])  # DNGVersion
    node = description(tags[700][2])
    assert crs(node, "RawFileName") == "IMG_7.dng"
    if shutil.which("exiftool"):
        path = tmp_path / "IMG_7.dng"
        path.write_bytes(dng)
        result = subprocess.run(
            ["exiftool", "-j", "-DNGVersion", "-XMP-crs:RawFileName", str(path)],
            capture_output=True, check=True, text=True,
        )  # fmt: skip
        info = json.loads(result.stdout)[0]
        assert info["DNGVersion"] == "1.4.0.0" and info["RawFileName"] == "IMG_7.dng"


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    assert data[:2] == b"\xff\xd8"
    position, found = 2, []
    while True:
        marker = data[position + 1]
        (length,) = struct.unpack_from(">H", data, position + 2)
        found.append((marker, data[position + 4 : position + 2 + length]))
        position += 2 + length
        if marker == 0xDA:
            return found


async def test_jpeg_in_jpeg_out_with_xmp_app1(emulator: RunningEmulator) -> None:
    original = jpeg_bytes(3)
    # give the input an old XMP packet too: the edit must replace it, not add a second one
    old_xmp = b"\xff\xe1" + struct.pack(">H", 2 + len(XMP_SIGNATURE) + 5) + XMP_SIGNATURE + b"<old>"
    source = original[:2] + old_xmp + original[2:]
    outputs = await edited(emulator, {"wedding.jpeg": source}, {"profile_key": 5702})
    out = outputs["wedding.jpeg"]
    app1 = [payload for marker, payload in jpeg_segments(out) if marker == 0xE1]
    xmp = [p for p in app1 if p.startswith(XMP_SIGNATURE)]
    assert len(xmp) == 1 and b"<old>" not in out
    assert any(p.startswith(b"Exif\x00\x00") for p in app1)  # the camera's Exif is kept
    node = description(xmp[0][len(XMP_SIGNATURE) :])
    assert crs(node, "RawFileName") == "wedding.jpeg"
    assert crs(node, "CameraProfile") == "Embedded"
    scan = original.index(b"\xff\xda")
    assert out.endswith(original[scan:])  # image data copied untouched
    with Image.open(io.BytesIO(out)) as image:
        image.load()


async def test_hdr_merge_writes_one_dng_per_bracket(emulator: RunningEmulator) -> None:
    files = {f"IMG_{i}.CR3": f"frame {i}".encode() * 10 for i in range(1, 6)}
    body = {"profile_key": 5700, "hdr_merge": True, "hdr_output_compression": "LOSSLESS"}
    outputs = await edited(emulator, files, body)
    assert sorted(outputs) == ["IMG_1_HDR.dng", "IMG_4_HDR.dng"]
    tags = tiff_tags(outputs["IMG_1_HDR.dng"])
    assert struct.unpack("<3H", tags[258][2]) == (16, 16, 16)  # LOSSLESS keeps 16-bit samples
    assert crs(description(tags[700][2]), "RawFileName") == "IMG_1_HDR.dng"
    lossy = await edited(emulator, files, {**body, "hdr_output_compression": "LOSSY"})
    assert struct.unpack("<3H", tiff_tags(lossy["IMG_4_HDR.dng"])[258][2]) == (8, 8, 8)


async def test_exported_jpegs_decode(emulator: RunningEmulator) -> None:
    async with api(emulator) as client:
        uuid = await new_project(client, RAW)
        await edit(client, uuid, {"profile_key": 5714})
        await client.post(f"/projects/{uuid}/export")
        await wait_status(client, f"/projects/{uuid}/export/status")
        links = unwrap(
            (await client.get(f"/projects/{uuid}/export/get_temporary_download_links")).json()
        )["files_list"]
        assert sorted(entry["file_name"] for entry in links) == ["IMG_1.jpg", "IMG_2.jpg"]
        pictures = []
        for entry in links:
            with Image.open(io.BytesIO(await get_bytes(entry["download_link"]))) as image:
                image.load()
                assert (image.format, image.size, image.mode) == ("JPEG", (64, 48), "RGB")
                pictures.append(image.tobytes())
        assert pictures[0] != pictures[1]


async def test_outputs_are_deterministic_and_depend_on_tools(emulator: RunningEmulator) -> None:
    base = {"profile_key": 5700, "photography_type": "WEDDING"}
    first = await edited(emulator, RAW, base)
    again = await edited(emulator, RAW, base)
    assert first == again
    assert first["IMG_1.xmp"] != first["IMG_2.xmp"]
    with_tool = await edited(emulator, RAW, {**base, "subject_mask": True})
    other_profile = await edited(emulator, RAW, {**base, "profile_key": 5731})
    for changed in (with_tool, other_profile):
        assert changed["IMG_1.xmp"] != first["IMG_1.xmp"]
    renamed = await edited(emulator, {"OTHER.NEF": RAW["IMG_1.NEF"]}, base)
    strip = description(renamed["OTHER.xmp"])
    assert crs(strip, "Exposure2012") == crs(description(first["IMG_1.xmp"]), "Exposure2012")
