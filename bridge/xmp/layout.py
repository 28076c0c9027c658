"""Tree surgery that keeps a packet's look: indentation, prefixes, namespace scope.

lxml keeps whitespace as text/tail strings; removing or appending elements naively leaves
ragged indentation in the photographer's file. These helpers keep it tidy, and rebuild
foreign elements so they use the prefixes already declared where they land.
"""

from __future__ import annotations

from lxml import etree

from bridge.xmp.namespaces import (
    PREFERRED_PREFIX,
    RDF_ABOUT,
    RDF_DESCRIPTION,
    XML,
    attributes,
    namespace_of,
)


def prefix_in_scope(node: etree._Element, uri: str) -> str | None:
    """A prefix bound to ``uri`` where ``node`` sits (never the default namespace)."""
    for prefix, bound in node.nsmap.items():
        if bound == uri and prefix is not None:
            return prefix
    return None


def free_prefix(node: etree._Element, uri: str, wanted: str | None = None) -> str:
    """A prefix for ``uri`` that does not shadow any binding in scope at ``node``."""
    base = wanted or PREFERRED_PREFIX.get(uri, "ns")
    taken = set(node.nsmap)
    candidate, number = base, 0
    while candidate in taken:
        number += 1
        candidate = f"{base}{number}"
    return candidate


def remove_element(node: etree._Element) -> None:
    """Remove ``node`` (lxml drops its tail with it); keep the parent's closing indentation."""
    parent = node.getparent()
    if parent is None:
        raise ValueError("cannot remove the root element")
    if node.getnext() is None:
        previous = node.getprevious()
        if previous is not None:
            previous.tail = node.tail
        else:
            parent.text = node.tail
    parent.remove(node)


def _blank(text: str | None) -> bool:
    return text is not None and text != "" and not text.strip()


def _last_line(text: str) -> str:
    return text.rpartition("\n")[2]


def _own_indent(node: etree._Element) -> str | None:
    """The whitespace that precedes ``node`` (its own indentation), if pretty-printed."""
    previous = node.getprevious()
    parent = node.getparent()
    before = (
        previous.tail if previous is not None else (parent.text if parent is not None else None)
    )
    if before is None or not _blank(before) or "\n" not in before:
        return None
    return "\n" + _last_line(before)


def tidy_placed(parent: etree._Element, node: etree._Element) -> None:
    """Give ``node`` (just placed among ``parent``'s children) matching indentation."""
    previous = node.getprevious()
    if node.getnext() is not None:
        child_indent = previous.tail if previous is not None else parent.text
        closing = parent[-1].tail
        if not (_blank(child_indent) and _blank(closing)):
            return  # a compact packet: add no whitespace
        assert child_indent is not None and closing is not None
    elif previous is not None:
        child_indent = parent.text
        closing = previous.tail
        if not (_blank(child_indent) and _blank(closing)):
            return
        assert child_indent is not None and closing is not None
        previous.tail = child_indent
    else:
        own = _own_indent(parent)
        if own is None:
            return
        closing = own
        child_indent = own + ("\t" if "\t" in own else " ")
        parent.text = child_indent
    node.tail = child_indent if node.getnext() is not None else closing
    outer = _last_line(closing)
    inner = _last_line(child_indent)
    unit = inner[len(outer) :] if inner.startswith(outer) and len(inner) > len(outer) else " "
    etree.indent(node, space=unit, level=len(inner) // len(unit))


def clone_into(parent: etree._Element, source: etree._Element) -> etree._Element:
    """Rebuild ``source`` (from another packet) as the last child of ``parent``.

    Namespaces already in scope at ``parent`` are reused, whatever their prefix there; any
    other namespace is declared on the new element with the source's prefix when free.
    """
    if isinstance(source, etree._Comment):
        comment = etree.Comment(source.text)
        parent.append(comment)
        return comment
    if isinstance(source, etree._ProcessingInstruction):
        instruction = etree.ProcessingInstruction(source.target, source.text or "")
        parent.append(instruction)
        return instruction
    tag = str(source.tag)
    copied = attributes(source)
    needed = {namespace_of(tag)} | {namespace_of(name) for name, _ in copied}
    in_scope = {uri for prefix, uri in parent.nsmap.items() if prefix is not None}
    missing = sorted(uri for uri in needed if uri not in {None, XML} and uri not in in_scope)
    declare: dict[str, str] = {}
    if missing:
        source_prefixes = {uri: prefix for prefix, uri in source.nsmap.items() if prefix}
        for uri in missing:
            assert uri is not None
            prefix = free_prefix(parent, uri, source_prefixes.get(uri))
            while prefix in declare:
                prefix = free_prefix(parent, uri, prefix + "x")
            declare[prefix] = uri
    node = etree.SubElement(parent, tag, nsmap=declare or None)
    for name, value in copied:
        node.set(name, value)
    node.text = source.text
    for child in source:
        clone_into(parent=node, source=child).tail = child.tail
    return node


def new_description(rdf: etree._Element, about: str, uris: list[str]) -> etree._Element:
    """Append a top-level ``rdf:Description`` declaring ``uris`` with free prefixes."""
    nsmap: dict[str, str] = {}
    for uri in uris:
        if prefix_in_scope(rdf, uri) is not None:
            continue
        prefix = free_prefix(rdf, uri)
        while prefix in nsmap:
            prefix = free_prefix(rdf, uri, prefix + "x")
        nsmap[prefix] = uri
    description = etree.SubElement(rdf, RDF_DESCRIPTION, nsmap=nsmap)
    description.set(RDF_ABOUT, about)
    tidy_placed(rdf, description)
    return description
