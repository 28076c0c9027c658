"""Serialise develop settings as an Adobe-style XMP packet (sidecar or embedded).

The shape follows what Lightroom Classic writes: xpacket wrapper, one ``rdf:Description``
holding simple ``crs`` values as attributes, arrays and structs as child elements, and
whitespace padding before ``<?xpacket end="w"?>`` so the packet can be edited in place.
"""

from __future__ import annotations

from lxml import etree

from bridge.emulator.outputs.develop import CrsSettings

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"
NS_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
XMP_TOOLKIT = "Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00        "
_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
_PAD_LINE = b" " * 99 + b"\n"


def _rdf(tag: str) -> str:
    return f"{{{NS_RDF}}}{tag}"


def _crs(tag: str) -> str:
    return f"{{{NS_CRS}}}{tag}"


def _seq(parent: etree._Element) -> etree._Element:
    return etree.SubElement(parent, _rdf("Seq"))


def render_xmp(
    settings: CrsSettings, *, sidecar_for: str | None = None, padding: int = 2048
) -> bytes:
    """The packet as UTF-8 bytes; ``sidecar_for`` (e.g. "NEF") marks a raw's sidecar."""
    nsmap = {"x": NS_X}
    root = etree.Element(f"{{{NS_X}}}xmpmeta", nsmap=nsmap)
    root.set(f"{{{NS_X}}}xmptk", XMP_TOOLKIT)
    rdf = etree.SubElement(root, _rdf("RDF"), nsmap={"rdf": NS_RDF})
    description_ns = {"crs": NS_CRS}
    if sidecar_for:
        description_ns["photoshop"] = NS_PHOTOSHOP
    description = etree.SubElement(rdf, _rdf("Description"), nsmap=description_ns)
    description.set(_rdf("about"), "")
    if sidecar_for:
        description.set(f"{{{NS_PHOTOSHOP}}}SidecarForExtension", sidecar_for)
    for name, value in settings.simple.items():
        description.set(_crs(name), value)
    for name, points in settings.curves.items():
        seq = _seq(etree.SubElement(description, _crs(name)))
        for x, y in points:
            etree.SubElement(seq, _rdf("li")).text = f"{x}, {y}"
    if settings.corrections:
        corrections = _seq(etree.SubElement(description, _crs("MaskGroupBasedCorrections")))
        for correction in settings.corrections:
            item = etree.SubElement(etree.SubElement(corrections, _rdf("li")), _rdf("Description"))
            item.set(_crs("What"), "Correction")
            item.set(_crs("CorrectionName"), correction.name)
            for key, value in correction.settings.items():
                item.set(_crs(key), value)
            masks = _seq(etree.SubElement(item, _crs("CorrectionMasks")))
            for mask in correction.masks:
                entry = etree.SubElement(etree.SubElement(masks, _rdf("li")), _rdf("Description"))
                for key, value in mask.items():
                    entry.set(_crs(key), value)
    etree.indent(root, space=" ")
    body = etree.tostring(root, encoding="UTF-8")
    lines, rest = divmod(padding, len(_PAD_LINE))
    pad = _PAD_LINE * lines + b" " * rest
    head = f'<?xpacket begin="\ufeff" id="{_PACKET_ID}"?>\n'.encode()
    return head + body + b"\n" + pad + b'<?xpacket end="w"?>'
