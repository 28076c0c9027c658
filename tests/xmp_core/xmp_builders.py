"""Builders shared by the xmp_core tests: Imagen-style packets, TIFF/JPEG containers,
and a prefix-independent snapshot of everything that is not crs."""

from __future__ import annotations

import struct

from lxml import etree

from bridge.xmp.namespaces import CRS, XMP, local_name, namespace_of
from bridge.xmp.packet import XmpPacket, parse_xmp
from bridge.xmp.values import XmpValue, elements, read_value

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DATE_NAMES = {f"{{{XMP}}}MetadataDate", f"{{{XMP}}}ModifyDate"}


def imagen_packet(raw_name: str = "IMG_0001.CR2", *, prefix: str = "crs") -> bytes:
    """What an AI editing service plausibly returns: crs as attributes and structures,
    an unknown crs key, masks, a Look, plus non-crs properties the merge must ignore."""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Imagen">
 <rdf:RDF xmlns:rdf="{RDF_NS}">
  <rdf:Description rdf:about=""
    xmlns:{prefix}="{CRS}"
    xmlns:xmp="{XMP}"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmp:Rating="1"
    {prefix}:Version="16.5"
    {prefix}:ProcessVersion="15.4"
    {prefix}:RawFileName="{raw_name}"
    {prefix}:HasSettings="True"
    {prefix}:AlreadyApplied="False"
    {prefix}:WhiteBalance="Custom"
    {prefix}:Temperature="5450"
    {prefix}:Tint="+12"
    {prefix}:Exposure2012="+0.35"
    {prefix}:Contrast2012="-8"
    {prefix}:Highlights2012="-42"
    {prefix}:CameraProfile="Adobe Standard"
    {prefix}:CropTop="0.05"
    {prefix}:CropLeft="0.02"
    {prefix}:CropBottom="0.97"
    {prefix}:CropRight="0.99"
    {prefix}:CropAngle="0.8"
    {prefix}:FooBrandNewSetting2026="+7">
   <dc:subject><rdf:Bag><rdf:li>from-the-service</rdf:li></rdf:Bag></dc:subject>
   <{prefix}:ToneCurvePV2012>
    <rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>64, 60</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq>
   </{prefix}:ToneCurvePV2012>
   <{prefix}:ToneCurvePV2012Red>
    <rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq>
   </{prefix}:ToneCurvePV2012Red>
   <{prefix}:Look>
    <rdf:Description {prefix}:Name="Adobe Color" {prefix}:Amount="1"
      {prefix}:UUID="B952C231111CD8E0ECCF14B86BAA7077">
     <{prefix}:Group>
      <rdf:Alt><rdf:li xml:lang="x-default">Profiles</rdf:li></rdf:Alt>
     </{prefix}:Group>
     <{prefix}:Parameters>
      <rdf:Description {prefix}:Version="16.5" {prefix}:ProcessVersion="15.4"
        {prefix}:ConvertToGrayscale="False" {prefix}:LookTable="E1095149FDB39D7A057BAB208837E2E1"/>
     </{prefix}:Parameters>
    </rdf:Description>
   </{prefix}:Look>
   <{prefix}:MaskGroupBasedCorrections>
    <rdf:Seq>
     <rdf:li>
      <rdf:Description {prefix}:What="Correction" {prefix}:CorrectionAmount="1"
        {prefix}:CorrectionActive="true" {prefix}:CorrectionName="Subject"
        {prefix}:LocalExposure2012="+0.2" {prefix}:CorrectionSyncID="4C5B1A1E">
       <{prefix}:CorrectionMasks>
        <rdf:Seq>
         <rdf:li {prefix}:What="Mask/Image" {prefix}:MaskActive="true" {prefix}:MaskName="Subject"
           {prefix}:MaskSubType="1" {prefix}:MaskVersion="1" {prefix}:MaskInverted="false"/>
        </rdf:Seq>
       </{prefix}:CorrectionMasks>
      </rdf:Description>
     </rdf:li>
    </rdf:Seq>
   </{prefix}:MaskGroupBasedCorrections>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def imagen(raw_name: str = "IMG_0001.CR2", *, prefix: str = "crs") -> XmpPacket:
    return parse_xmp(imagen_packet(raw_name, prefix=prefix))


def non_crs_snapshot(packet: XmpPacket) -> list[tuple[str, XmpValue]]:
    """Every top-level property except crs and the two dates merge sets, by namespace URI,
    in document order; values canonicalised so prefixes and layout do not matter."""
    found: list[tuple[str, XmpValue]] = []
    for description in packet.descriptions():
        for name, value in description.attrib.items():
            name = str(name)
            if namespace_of(name) not in {CRS, RDF_NS} and name not in DATE_NAMES:
                found.append((name, str(value)))
        for child in elements(description):
            tag = str(child.tag)
            if namespace_of(tag) != CRS and tag not in DATE_NAMES:
                found.append((tag, read_value(child)))
    return found


def dates(packet: XmpPacket) -> dict[str, list[str]]:
    """Every MetadataDate/ModifyDate occurrence, attribute or element."""
    out: dict[str, list[str]] = {}
    for description in packet.descriptions():
        for name in DATE_NAMES:
            if description.get(name) is not None:
                out.setdefault(local_name(name), []).append(str(description.get(name)))
        for child in elements(description):
            if child.tag in DATE_NAMES:
                out.setdefault(local_name(str(child.tag)), []).append(child.text or "")
    return out


def tiff_with_xmp(
    xmp: bytes | None, *, little_endian: bool = True, field_type: int = 1, extra_tags: int = 3
) -> bytes:
    """A minimal TIFF/DNG: header, IFD0 with a few ordinary tags and tag 700 (sorted)."""
    order = "<" if little_endian else ">"
    header = (b"II*\x00" if little_endian else b"MM\x00*") + struct.pack(order + "I", 8)
    entries = [(256 + i, 3, 1, struct.pack(order + "HH", 100 + i, 0)) for i in range(extra_tags)]
    count = len(entries) + (1 if xmp is not None else 0)
    ifd_size = 2 + 12 * count + 4
    data_offset = 8 + ifd_size
    blobs = b""
    if xmp is not None:
        if len(xmp) <= 4:
            value = xmp.ljust(4, b"\x00")
        else:
            value = struct.pack(order + "I", data_offset)
            blobs = xmp
        entries.append((700, field_type, len(xmp), value))
    ifd = struct.pack(order + "H", count)
    for tag, kind, n, value in sorted(entries):
        ifd += struct.pack(order + "HHI", tag, kind, n) + value
    ifd += struct.pack(order + "I", 0)
    return header + ifd + blobs + b"\x00" * 16


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with_xmp(xmp: bytes | None, *, extended: bool = True) -> bytes:
    """SOI, APP0 JFIF, APP1 Exif, optional APP1 XMP (+ ExtendedXMP), DQT, SOS, data, EOI."""
    parts = [b"\xff\xd8", jpeg_segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00")]
    parts.append(jpeg_segment(0xE1, b"Exif\x00\x00" + b"II*\x00" + b"\x00" * 20))
    if xmp is not None:
        parts.append(jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp))
    if extended:
        ext = b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + struct.pack(">II", 5, 0)
        parts.append(jpeg_segment(0xE1, ext + b"<x/>!"))
    parts.append(jpeg_segment(0xDB, b"\x00" + bytes(64)))
    parts.append(b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00")
    parts.append(b"\x12\x34\xff\x00\x56" * 10 + b"\xff\xd9")
    return b"".join(parts)


def tostring(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="utf-8")
