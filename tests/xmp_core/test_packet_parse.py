"""Parsing from every encoding/wrapper variant, clear errors, faithful serialization."""

from __future__ import annotations

import codecs
import re

import pytest
from lxml import etree

from bridge.xmp.errors import XmpParseError
from bridge.xmp.namespaces import CRS, DC
from bridge.xmp.packet import XmpPacket, parse_xmp, serialize_xmp
from bridge.xmp.values import crs_values

from .xmp_builders import non_crs_snapshot

BODY = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <!-- a comment the photographer's tool wrote -->
  <rdf:Description rdf:about="" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/" crs:Exposure2012="+0.50">
   <dc:title><rdf:Alt>
    <rdf:li xml:lang="x-default">Grüße 東京 📷 &amp; more</rdf:li>
   </rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""
XPACKET = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{}\n<?xpacket end="w"?>'
BARE_RDF = (
    BODY.split("\n", 1)[1]
    .rsplit("\n", 1)[0]
    .replace("<rdf:RDF ", '<rdf:RDF xmlns:x="adobe:ns:meta/" ', 1)
)


def _variants() -> dict[str, bytes]:
    wrapped = XPACKET.format(BODY)
    declared = '<?xml version="1.0" encoding="UTF-8"?>\n' + BODY
    return {
        "utf8-xpacket": wrapped.encode(),
        "utf8-plain": BODY.encode(),
        "utf8-bom": codecs.BOM_UTF8 + wrapped.encode(),
        "utf8-crlf": wrapped.replace("\n", "\r\n").encode(),
        "xml-declaration": declared.encode(),
        "utf16-le-bom": codecs.BOM_UTF16_LE + wrapped.replace("\n", "\r\n").encode("utf-16-le"),
        "utf16-be-bom": codecs.BOM_UTF16_BE + wrapped.encode("utf-16-be"),
        "utf16-le-declared": codecs.BOM_UTF16_LE
        + declared.replace("UTF-8", "UTF-16").encode("utf-16-le"),
        "utf16-le-no-bom": BODY.encode("utf-16-le"),
        "bare-rdf": BARE_RDF.encode(),
    }


@pytest.mark.parametrize("name", list(_variants()))
def test_every_encoding_and_wrapper_reads_the_same(name: str) -> None:
    packet = parse_xmp(_variants()[name])
    assert crs_values(packet) == {"Exposure2012": ("+0.50",)}
    snapshot = non_crs_snapshot(packet)
    assert len(snapshot) == 1
    title = snapshot[0][1]
    assert title.items == ("Grüße 東京 📷 & more",)  # type: ignore[union-attr]


def test_serialize_is_utf8_xpacket_lf_and_round_trips() -> None:
    source = _variants()["utf16-le-bom"]
    out = serialize_xmp(parse_xmp(source))
    assert out.startswith(b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n')
    assert out.endswith(b'<?xpacket end="w"?>')
    assert b"\r" not in out
    assert not out.startswith(codecs.BOM_UTF8)
    assert "Grüße 東京 📷 &amp; more".encode() in out
    assert b"<!-- a comment the photographer's tool wrote -->" in out
    again = serialize_xmp(parse_xmp(out))
    assert again == out
    assert out.count(b'<?xpacket begin="') == 1


def test_serialize_keeps_prefixes_forms_and_unknown_namespaces() -> None:
    source = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
      xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
      xmlns:xap="http://ns.adobe.com/xap/1.0/" xmlns:fish="http://testtag.com/fish/1.0/"
      xap:Rating="3"><fish:Test>trout</fish:Test></rdf:Description></rdf:RDF></x:xmpmeta>"""
    out = serialize_xmp(parse_xmp(source), padding=0)
    assert b'xap:Rating="3"' in out
    assert b"<fish:Test>trout</fish:Test>" in out
    assert b'xmlns:fish="http://testtag.com/fish/1.0/"' in out


def test_padding_is_whitespace_of_the_requested_size() -> None:
    packet = parse_xmp(BODY.encode())
    bare = serialize_xmp(packet, padding=0)
    padded = serialize_xmp(packet, padding=2048)
    assert len(padded) - len(bare) == 2048
    assert padded.replace(b" ", b"").replace(b"\n", b"") == bare.replace(b" ", b"").replace(
        b"\n", b""
    )
    with pytest.raises(ValueError, match="padding"):
        serialize_xmp(packet, padding=-1)


def test_copy_is_independent() -> None:
    packet = parse_xmp(BODY.encode())
    clone = packet.copy()
    clone.descriptions()[0].set(f"{{{CRS}}}Exposure2012", "+9")
    assert crs_values(packet)["Exposure2012"] == ("+0.50",)
    assert crs_values(clone)["Exposure2012"] == ("+9",)
    assert isinstance(clone, XmpPacket)


def test_empty_packet_has_rdf_and_no_descriptions() -> None:
    packet = XmpPacket.empty()
    assert packet.descriptions() == []
    assert parse_xmp(serialize_xmp(packet)).descriptions() == []


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"   \n ", "empty"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>\n<rdf:RDF>", "line 2"),
        (b"<a>\n  <b></a>", "line 2, column"),
        (b"<html><body/></html>", "expected x:xmpmeta"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><nothing/></x:xmpmeta>", "exactly one rdf:RDF"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>', "ISO-8859-1"),
        (codecs.BOM_UTF32_LE + "<a/>".encode("utf-32-le"), "UTF-32"),
        (codecs.BOM_UTF16_LE + b"<\x00a\x00\x00\xd8/\x00>\x00", "UTF-16"),
        (b"<a>\x1a</a>", "U+001A"),
        (b"<a>Tom & Jerry</a>", "not well-formed XML at line 1"),
        (b"<a>Tom &amp Jerry</a>", "not well-formed XML at line 1"),
    ],
)
def test_malformed_input_gets_a_clear_parse_error(data: bytes, needle: str) -> None:
    with pytest.raises(XmpParseError, match=re.escape(needle)) as info:
        parse_xmp(data)
    assert str(info.value).startswith("XMP packet")


def test_not_bytes_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_xmp(BODY)  # type: ignore[arg-type]


def test_descriptions_and_about() -> None:
    packet = parse_xmp(
        b"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
        <rdf:Description rdf:about="uuid:1" xmlns:dc="http://purl.org/dc/elements/1.1/"
        dc:format="image/x"/><rdf:Description rdf:about="uuid:1"/></rdf:RDF>"""
    )
    assert len(packet.descriptions()) == 2
    assert packet.about() == "uuid:1"
    assert packet.descriptions()[0].get(f"{{{DC}}}format") == "image/x"
    assert isinstance(packet.root, etree._Element)
