"""Merge Camera Raw settings (crs) from the service into the photographer's packet.

Policy, in one place:

- The ``crs`` namespace is replaced wholesale: every crs property (attribute or element) in
  every top-level ``rdf:Description`` goes, then every incoming crs property comes in as
  written, structures and unknown keys included. An absent ACR key means "default", so a
  key-by-key overlay would leave stale settings behind.
- Everything else is the photographer's and is left exactly as it was, matched by namespace
  URI, never by prefix. Non-crs properties in the incoming packet (rating, keywords...) are
  ignored: the photographer's values win.
- ``crss`` (ACR's saved snapshots) is left alone: snapshots are the photographer's own states.
- ``xmpMM`` identity and history are kept. ``xmp:MetadataDate`` and ``xmp:ModifyDate`` are
  set to ``now`` (a develop change moves both, as Adobe's own saves do).
- A fresh sidecar (no existing packet) holds the crs and the two dates only; no
  ``xmpMM:DocumentID`` is invented: it identifies the asset, and Lightroom assigns its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath, PureWindowsPath

from lxml import etree

from bridge.xmp.errors import XmpMismatchError
from bridge.xmp.formats import collision_key, is_raw_file
from bridge.xmp.layout import (
    clone_into,
    new_description,
    prefix_in_scope,
    remove_element,
    tidy_placed,
)
from bridge.xmp.namespaces import CRS, RDF, XMP, attributes, namespace_of
from bridge.xmp.packet import XmpPacket
from bridge.xmp.values import crs_properties, crs_values, elements

_DATE_PROPERTIES = ("MetadataDate", "ModifyDate")


@dataclass(frozen=True)
class CrsChanges:
    """Which crs keys an update adds, removes and changes (sorted local names)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """A short human line, e.g. ``"2 added, 1 removed, 5 changed"`` or ``"unchanged"``."""
        if self.empty:
            return "unchanged"
        counts = (
            (len(self.added), "added"),
            (len(self.removed), "removed"),
            (len(self.changed), "changed"),
        )
        return ", ".join(f"{n} {word}" for n, word in counts if n)


def merge_crs(existing: XmpPacket | None, incoming: XmpPacket, *, now: datetime) -> XmpPacket:
    """A new packet: ``existing`` with its crs replaced by ``incoming``'s, dates set to ``now``.

    Neither argument is modified. ``now`` must be timezone-aware (the dates carry an offset).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("merge_crs needs a timezone-aware `now` (XMP dates carry an offset)")
    result = existing.copy() if existing is not None else _fresh_packet()
    slots = _strip_crs(result)
    # If a new Description is needed for crs and xmp is declared nowhere, declare both there
    # so the dates do not need a third one.
    xmp_missing = not any(prefix_in_scope(d, XMP) for d in result.descriptions())
    target = _description_for(
        result,
        CRS,
        preferred=[slot.description for slot in slots],
        declare_too=[XMP] if xmp_missing else [],
    )
    slot = next((slot for slot in slots if slot.description is target), None)
    _insert_crs(target, incoming, slot)
    stamp = now.replace(microsecond=0).isoformat()
    for name in _DATE_PROPERTIES:
        _set_date(result, name, stamp)
    return result


def crs_changes(before: XmpPacket | None, after: XmpPacket) -> CrsChanges:
    """Compare crs content (values canonicalised, structures included), not bytes."""
    old = crs_values(before) if before is not None else {}
    new = crs_values(after)
    return CrsChanges(
        added=tuple(sorted(new.keys() - old.keys())),
        removed=tuple(sorted(old.keys() - new.keys())),
        changed=tuple(sorted(key for key in old.keys() & new.keys() if old[key] != new[key])),
    )


def check_belongs(incoming: XmpPacket, photo: Path, *, is_raw: bool | None = None) -> None:
    """Refuse settings that are empty, made for another file, or already baked into a raw.

    ``is_raw`` defaults to a guess from the extension (:func:`is_raw_file`).
    """
    if not any(_has_namespace(description, CRS) for description in incoming.descriptions()):
        raise XmpMismatchError(
            f"The settings returned for {photo.name} hold no Camera Raw (crs) settings; "
            "there is nothing to merge"
        )
    # Read just the two keys checked here; a merge reads every crs value once, in crs_changes.
    checked = crs_properties(incoming, only=("RawFileName", "AlreadyApplied"))
    for raw_name in (value for key, value in checked if key == "RawFileName"):
        if not isinstance(raw_name, str) or not _same_photo(raw_name, photo):
            shown = raw_name if isinstance(raw_name, str) else "a structured value"
            raise XmpMismatchError(
                f"The settings were made for {shown!r} (crs:RawFileName), not for {photo.name!r}"
            )
    raw = is_raw_file(photo) if is_raw is None else is_raw
    if raw and any(
        key == "AlreadyApplied" and isinstance(value, str) and value.strip().lower() == "true"
        for key, value in checked
    ):
        raise XmpMismatchError(
            f"The settings for {photo.name} say crs:AlreadyApplied=True (baked into rendered "
            "pixels); they cannot be applied to a raw"
        )


def _same_photo(raw_name: str, photo: Path) -> bool:
    # RawFileName is a bare name; tolerate a path in either separator style.
    name = PureWindowsPath(raw_name.strip()).name
    wanted = PurePath(name)
    if collision_key(wanted.name) == collision_key(photo.name):
        return True
    return bool(wanted.stem) and collision_key(wanted.stem) == collision_key(photo.stem)


def _fresh_packet() -> XmpPacket:
    packet = XmpPacket.empty()
    new_description(packet.rdf, "", [CRS, XMP])
    return packet


@dataclass
class _Slot:
    """Where a Description held its crs, so new crs goes back to the same place
    (which also makes a repeated merge byte-identical)."""

    description: etree._Element
    attribute_index: int | None  # how many non-crs attributes preceded the first crs one
    anchor: etree._Element | None  # the first kept node after the first crs child


def _strip_crs(packet: XmpPacket) -> list[_Slot]:
    """Remove every top-level crs property; return where each Description held them."""
    slots = []
    for description in packet.descriptions():
        current = [name for name, _ in attributes(description)]
        names = [name for name in current if namespace_of(name) == CRS]
        children = [c for c in elements(description) if namespace_of(str(c.tag)) == CRS]
        if not (names or children):
            continue
        # every attribute before the first crs one is a kept, non-crs attribute
        attribute_index = current.index(names[0]) if names else None
        anchor = None
        if children:
            anchor = next(
                (n for n in children[0].itersiblings() if namespace_of(str(n.tag)) != CRS), None
            )
        for name in names:
            del description.attrib[name]
        for child in children:
            remove_element(child)
        slots.append(_Slot(description, attribute_index, anchor))
    return slots


def _description_for(
    packet: XmpPacket,
    uri: str,
    preferred: list[etree._Element],
    declare_too: list[str] | None = None,
) -> etree._Element:
    """Where properties of ``uri`` go: a preferred Description with the namespace in scope,
    else any Description with it in scope, else a new Description declaring it."""
    for description in [*preferred, *packet.descriptions()]:
        if prefix_in_scope(description, uri) is not None:
            return description
    return new_description(packet.rdf, packet.about(), [uri, *(declare_too or [])])


def _insert_crs(target: etree._Element, incoming: XmpPacket, slot: _Slot | None) -> None:
    new_attributes: dict[str, str] = {}
    new_children: list[etree._Element] = []
    for description in incoming.descriptions():
        for name, value in attributes(description):
            if namespace_of(name) != CRS:
                continue
            if name in new_attributes:
                # The same key as an attribute of two Descriptions: one element carries the
                # second value, as one Description cannot hold an attribute twice.
                duplicate = etree.Element(name)
                duplicate.text = value
                new_children.append(duplicate)
            else:
                new_attributes[name] = value
        new_children += [c for c in elements(description) if namespace_of(str(c.tag)) == CRS]
    current = attributes(target)
    index = len(current) if slot is None or slot.attribute_index is None else slot.attribute_index
    target.attrib.clear()
    for name, value in [*current[:index], *new_attributes.items(), *current[index:]]:
        target.set(name, value)
    anchor = slot.anchor if slot is not None else None
    for child in new_children:
        node = clone_into(target, child)
        if anchor is not None:
            anchor.addprevious(node)
        tidy_placed(target, node)


def _set_date(packet: XmpPacket, local: str, stamp: str) -> None:
    """Update every occurrence in its own form; add one if there is none."""
    name = f"{{{XMP}}}{local}"
    found = False
    for description in packet.descriptions():
        if description.get(name) is not None:
            description.set(name, stamp)
            found = True
        for child in elements(description):
            if child.tag == name:
                for grandchild in list(child):
                    child.remove(grandchild)
                child.text = stamp
                found = True
    if found:
        return
    holders = [d for d in packet.descriptions() if _has_namespace(d, XMP)]
    target = _description_for(packet, XMP, preferred=holders)
    if _prefers_attributes(target):
        target.set(name, stamp)
    else:
        element = etree.SubElement(target, name)
        element.text = stamp
        tidy_placed(target, element)


def _has_namespace(description: etree._Element, uri: str) -> bool:
    return any(namespace_of(n) == uri for n, _ in attributes(description)) or any(
        namespace_of(str(c.tag)) == uri for c in elements(description)
    )


def _prefers_attributes(description: etree._Element) -> bool:
    """Follow the Description's style: xmp properties as attributes if it writes them so."""
    if any(namespace_of(n) == XMP for n, _ in attributes(description)):
        return True
    if any(namespace_of(str(c.tag)) == XMP for c in elements(description)):
        return False
    has_attribute_properties = any(
        namespace_of(n) not in {None, RDF} for n, _ in attributes(description)
    )
    return has_attribute_properties or not elements(description)
