"""Safe parsing and serialization of XMP packets.

Every packet is untrusted input. Before lxml sees a byte we cap the size, decode strictly
(UTF-8 or UTF-16 with a BOM), refuse control characters and any DTD or entity declaration;
lxml itself then runs with DTDs, entity resolution, network access and huge trees disabled.
A caller gets either a complete :class:`XmpPacket` or an :class:`XmpError`, never half a tree.
"""

from __future__ import annotations

import codecs
import copy
import re

from lxml import etree

from bridge.xmp.errors import XmpParseError, XmpSecurityError
from bridge.xmp.namespaces import RDF, RDF_ABOUT, RDF_DESCRIPTION, RDF_RDF, X

DEFAULT_MAX_BYTES = 16 * 2**20
DEFAULT_MAX_DEPTH = 256
# Adobe pads sidecars with ~2 KB of spaces so in-place editors (Adobe XMP SDK, Exiv2) can grow
# the packet without rewriting the file; we follow the convention so our files look like theirs.
DEFAULT_PADDING = 2048

_XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_XPACKET_END = '<?xpacket end="w"?>'
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DTD_OR_ENTITY = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL = re.compile(r"<\?xml\s[^>]*?\?>")
_DECL_ENCODING = re.compile(r"""encoding\s*=\s*["']([^"']*)["']""")
_SECURITY_MESSAGES = ("excessive depth", "amplification", "huge")
# A bare '&' ("Tom & Jerry") is a plain syntax error, though libxml2's message names its
# entity-reference parser; only a reference to an undeclared entity is refused as one.
_STRAY_AMPERSAND = frozenset(
    {etree.ErrorTypes.ERR_NAME_REQUIRED, etree.ErrorTypes.ERR_ENTITYREF_SEMICOL_MISSING}
)


class XmpPacket:
    """One parsed XMP packet: an lxml tree whose root is ``x:xmpmeta`` or ``rdf:RDF``.

    Callers edit :attr:`rdf` and its ``rdf:Description`` children in place; :meth:`copy`
    gives an independent packet so the original stays untouched for comparisons.
    """

    __slots__ = ("_rdf", "_root")

    def __init__(self, root: etree._Element) -> None:
        self._root = root
        self._rdf = _find_rdf(root)

    @classmethod
    def empty(cls, *, toolkit: str = "imagen-bridge") -> XmpPacket:
        """A packet with ``x:xmpmeta`` and an empty ``rdf:RDF``: the start of a fresh sidecar."""
        root = etree.Element(f"{{{X}}}xmpmeta", nsmap={"x": X})
        root.set(f"{{{X}}}xmptk", toolkit)
        root.text = "\n "
        rdf = etree.SubElement(root, RDF_RDF, nsmap={"rdf": RDF})
        rdf.text = "\n"
        rdf.tail = "\n"
        return cls(root)

    @property
    def root(self) -> etree._Element:
        return self._root

    @property
    def rdf(self) -> etree._Element:
        return self._rdf

    def descriptions(self) -> list[etree._Element]:
        """The top-level ``rdf:Description`` elements, where all properties live."""
        return [child for child in self._rdf if child.tag == RDF_DESCRIPTION]

    def about(self) -> str:
        """The shared ``rdf:about`` value (XMP requires all top-level ones to agree)."""
        for description in self.descriptions():
            value = description.get(RDF_ABOUT)
            if value is not None:
                return value
        return ""

    def copy(self) -> XmpPacket:
        """An independent deep copy (comments and processing instructions included)."""
        return XmpPacket(copy.deepcopy(self._root.getroottree()).getroot())


def parse_xmp(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> XmpPacket:
    """Parse untrusted bytes into an :class:`XmpPacket` or raise a clear XmpError.

    ``max_depth`` is checked on the finished tree; libxml2 independently stops at 256 levels
    (we never enable ``huge_tree``), so a 10,000-deep document fails inside the parser early.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"parse_xmp needs bytes, got {type(data).__name__}")
    size = len(data)
    if size > max_bytes:
        raise XmpSecurityError(
            f"XMP packet is {size} bytes, over the {max_bytes} byte limit; not parsing it"
        )
    text = _decode(bytes(data))
    if not text.strip():
        raise XmpParseError("XMP packet is empty")
    _refuse_bad_characters(text)
    found = _DTD_OR_ENTITY.search(text)
    if found:
        line, column = _line_column(text, found.start())
        raise XmpSecurityError(
            f"XMP packet contains a <!{found.group(1).upper()} declaration at line {line}, "
            f"column {column}; DTDs and entities are never accepted"
        )
    root = _parse_xml(_neutralise_declaration(text).encode("utf-8"))
    _check_tree(root, max_depth)
    return XmpPacket(root)


def serialize_xmp(packet: XmpPacket, *, padding: int = DEFAULT_PADDING) -> bytes:
    """UTF-8 bytes without a file BOM, wrapped in ``<?xpacket?>``, LF line endings.

    Prefixes, attribute/element form, comments and unknown namespaces come out as parsed.
    Comments and processing instructions beside the root are kept; old xpacket PIs are
    replaced by a fresh wrapper.
    """
    if padding < 0:
        raise ValueError("padding must be >= 0")
    root = packet.root
    before = [node for node in root.itersiblings(preceding=True) if not _is_xpacket(node)]
    after = [node for node in root.itersiblings() if not _is_xpacket(node)]
    parts = [_XPACKET_BEGIN]
    parts += [_node_text(node) for node in reversed(before)]
    parts.append(_node_text(root))
    parts += [_node_text(node) for node in after]
    body = "\n".join(parts) + "\n" + _padding(padding) + _XPACKET_END
    return body.replace("\r\n", "\n").encode("utf-8")


def _padding(size: int) -> str:
    if size == 0:
        return ""
    line = " " * 99 + "\n"
    full, rest = divmod(size, len(line))
    return line * full + (" " * (rest - 1) + "\n" if rest else "")


def _node_text(node: etree._Element) -> str:
    return etree.tostring(node, encoding="unicode", with_tail=False)


def _is_xpacket(node: etree._Element) -> bool:
    return isinstance(node, etree._ProcessingInstruction) and node.target == "xpacket"


def _decode(data: bytes) -> str:
    """Strict decoding: UTF-8 (BOM optional) or UTF-16 with a BOM or a leading '<'."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise XmpParseError("XMP packet is UTF-32 encoded; only UTF-8 and UTF-16 are accepted")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, body = "utf-16", data
    elif data.startswith(b"<\x00"):
        encoding, body = "utf-16-le", data
    elif data.startswith(b"\x00<"):
        encoding, body = "utf-16-be", data
    else:
        encoding, body = "utf-8", data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        name = "UTF-8" if encoding == "utf-8" else "UTF-16"
        where = f"byte offset {offset}"
        if encoding == "utf-8":
            line = data.count(b"\n", 0, offset) + 1
            column = offset - data.rfind(b"\n", 0, offset)
            where += f" (line {line}, column {column})"
        raise XmpParseError(
            f"XMP packet is not valid {name}: undecodable bytes at {where} ({exc.reason})"
        ) from None


def _refuse_bad_characters(text: str) -> None:
    found = _BAD_CHAR.search(text)
    if found:
        line, column = _line_column(text, found.start())
        raise XmpParseError(
            f"XMP packet contains the control character U+{ord(found.group()):04X} at line "
            f"{line}, column {column}; it is not allowed in XML"
        )


def _neutralise_declaration(text: str) -> str:
    """Blank the ``<?xml?>`` declaration (we re-encode to UTF-8), keeping line numbers.

    A declaration naming anything but UTF-8/UTF-16 is refused: XMP is Unicode only.
    """
    text = text.removeprefix("\ufeff")
    match = _XML_DECL.match(text)
    if not match:
        return text
    encoding = _DECL_ENCODING.search(match.group())
    if encoding and encoding.group(1).lower().replace("_", "-") not in {"utf-8", "utf8", "utf-16"}:
        raise XmpParseError(
            f"XMP packet declares encoding {encoding.group(1)!r}; only UTF-8 and UTF-16 are "
            "accepted"
        )
    blank = re.sub(r"[^\n]", " ", match.group())
    return blank + text[match.end() :]


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers keep state and are not thread-safe.
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
    )


def _parse_xml(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        message = (exc.msg or str(exc)).split(", line ")[0]
        where = f"line {line}, column {column}"
        lowered = message.lower()
        code = exc.code  # type: ignore[attr-defined]  # set by lxml, missing from its stubs
        if "entity" in lowered and code not in _STRAY_AMPERSAND:
            raise XmpSecurityError(
                f"XMP packet refused at {where}: {message}; entities are never accepted"
            ) from None
        if any(word in lowered for word in _SECURITY_MESSAGES):
            raise XmpSecurityError(
                f"XMP packet refused at {where}: {message} (a safety limit of the parser)"
            ) from None
        raise XmpParseError(f"XMP packet is not well-formed XML at {where}: {message}") from None
    if root is None:  # pragma: no cover - lxml raises on empty documents
        raise XmpParseError("XMP packet has no root element")
    return root


def _check_tree(root: etree._Element, max_depth: int) -> None:
    """Post-parse checks: no DTD or entity nodes slipped through, depth within the limit."""
    docinfo = root.getroottree().docinfo
    dtds: tuple[object, object] = (docinfo.internalDTD, docinfo.externalDTD)
    if dtds != (None, None):
        raise XmpSecurityError("XMP packet carries a DTD; DTDs are never accepted")
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, etree._Entity):
            raise XmpSecurityError(
                f"XMP packet contains the entity reference {node.text} at line "
                f"{node.sourceline}; entities are never accepted"
            )
        if depth > max_depth:
            raise XmpSecurityError(
                f"XMP packet nests deeper than {max_depth} levels (line {node.sourceline}); "
                "refusing it"
            )
        stack.extend((child, depth + 1) for child in node)


def _find_rdf(root: etree._Element) -> etree._Element:
    if root.tag == RDF_RDF:
        return root
    if not isinstance(root.tag, str) or not root.tag.startswith(f"{{{X}}}"):
        raise XmpParseError(f"XMP packet root is {root.tag!r}, expected x:xmpmeta ({X}) or rdf:RDF")
    found = [child for child in root if child.tag == RDF_RDF]
    if len(found) != 1:
        raise XmpParseError(
            f"XMP packet must hold exactly one rdf:RDF under its root, found {len(found)}"
        )
    return found[0]


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column
