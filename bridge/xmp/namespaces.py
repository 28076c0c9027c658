"""Namespace URIs the XMP layer matches on (always by URI, never by prefix)."""

from __future__ import annotations

from typing import cast

from lxml import etree

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"
CRSS = "http://ns.adobe.com/camera-raw-saved-settings/1.0/"
XMP = "http://ns.adobe.com/xap/1.0/"
XMP_MM = "http://ns.adobe.com/xap/1.0/mm/"
DC = "http://purl.org/dc/elements/1.1/"

RDF_RDF = f"{{{RDF}}}RDF"
RDF_DESCRIPTION = f"{{{RDF}}}Description"
RDF_ABOUT = f"{{{RDF}}}about"
RDF_RESOURCE = f"{{{RDF}}}resource"
RDF_PARSE_TYPE = f"{{{RDF}}}parseType"
RDF_LI = f"{{{RDF}}}li"
RDF_CONTAINERS = {f"{{{RDF}}}{kind}": kind for kind in ("Seq", "Bag", "Alt")}
XML_LANG = f"{{{XML}}}lang"

PREFERRED_PREFIX = {CRS: "crs", XMP: "xmp", RDF: "rdf", X: "x"}


def namespace_of(name: str) -> str | None:
    """The URI part of a Clark name ``{uri}local``; None for an unqualified name."""
    if name.startswith("{"):
        return name[1 : name.index("}")]
    return None


def local_name(name: str) -> str:
    """The local part of a Clark name ``{uri}local``."""
    return name.rpartition("}")[2]


def attributes(node: etree._Element) -> list[tuple[str, str]]:
    """``node``'s attributes as (Clark name, value) text pairs."""
    # lxml always returns str here; its stubs say str | bytes, hence the cast, not a decode.
    return cast("list[tuple[str, str]]", node.attrib.items())
