"""Reading XMP property values into plain, comparable Python data.

One reader serves both the merge (canonical values for change detection) and the develop
settings (typed JSON), so the two always agree on what a packet says.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, TypeAlias

from lxml import etree

from bridge.xmp.namespaces import (
    CRS,
    RDF,
    RDF_CONTAINERS,
    RDF_DESCRIPTION,
    RDF_PARSE_TYPE,
    RDF_RESOURCE,
    XML,
    XML_LANG,
    attributes,
    local_name,
    namespace_of,
)
from bridge.xmp.packet import XmpPacket

ArrayKind = Literal["Seq", "Bag", "Alt"]


@dataclass(frozen=True)
class XmpArray:
    """An ``rdf:Seq``/``Bag``/``Alt``; ``langs`` holds each item's ``xml:lang`` (or None)."""

    kind: ArrayKind
    items: tuple[XmpValue, ...]
    langs: tuple[str | None, ...]


# A struct maps Clark names ({uri}local) to values, so prefixes never matter.
XmpStruct: TypeAlias = dict[str, "XmpValue"]
XmpValue: TypeAlias = str | XmpArray | XmpStruct


def elements(node: etree._Element) -> list[etree._Element]:
    """Element children only (comments and processing instructions skipped)."""
    return [child for child in node if isinstance(child.tag, str)]


def _field_attributes(node: etree._Element) -> XmpStruct:
    return {
        name: value
        for name, value in attributes(node)
        if namespace_of(name) not in {RDF, XML, None}
    }


def read_value(node: etree._Element) -> XmpValue:
    """The value of a property element, whatever RDF form it was written in."""
    resource = node.get(RDF_RESOURCE)
    if resource is not None:
        return resource
    children = elements(node)
    fields = _field_attributes(node)
    if node.get(RDF_PARSE_TYPE) == "Resource":
        return fields | _struct(children)
    if len(children) == 1 and not fields:
        only = children[0]
        kind = RDF_CONTAINERS.get(str(only.tag))
        if kind is not None:
            return _array(kind, only)  # type: ignore[arg-type]
        if only.tag == RDF_DESCRIPTION:
            return _field_attributes(only) | _struct(elements(only))
    if children or fields:
        return fields | _struct(children)
    return node.text or ""


def _struct(children: list[etree._Element]) -> XmpStruct:
    return {str(child.tag): read_value(child) for child in children}


def _array(kind: ArrayKind, container: etree._Element) -> XmpArray:
    items = elements(container)
    return XmpArray(
        kind=kind,
        items=tuple(read_value(item) for item in items),
        langs=tuple(item.get(XML_LANG) for item in items),
    )


def crs_properties(
    packet: XmpPacket, *, only: Collection[str] | None = None
) -> list[tuple[str, XmpValue]]:
    """Every top-level crs property as (local name, value), in document order.

    A key written twice (the attribute and the element form, as some presets do) appears twice.
    With ``only``, other keys are skipped without reading their values.
    """
    found: list[tuple[str, XmpValue]] = []
    for description in packet.descriptions():
        for name, value in attributes(description):
            if namespace_of(name) == CRS and (only is None or local_name(name) in only):
                found.append((local_name(name), value))
        for child in elements(description):
            tag = str(child.tag)
            if namespace_of(tag) == CRS and (only is None or local_name(tag) in only):
                found.append((local_name(tag), read_value(child)))
    return found


def crs_values(packet: XmpPacket) -> dict[str, tuple[XmpValue, ...]]:
    """crs properties grouped by key: the canonical form compared by :func:`crs_changes`.

    A key written more than once (malformed, but real presets do it) compares as a multiset:
    which Description or form carried which copy has no meaning.
    """
    grouped: dict[str, list[XmpValue]] = {}
    for key, value in crs_properties(packet):
        grouped.setdefault(key, []).append(value)
    return {key: tuple(sorted(values, key=repr)) for key, values in grouped.items()}
