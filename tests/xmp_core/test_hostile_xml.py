"""Hostile XML is refused with a clear error, and never expands, fetches or reads anything."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from bridge.xmp import packet as packet_module
from bridge.xmp.errors import XmpError, XmpParseError, XmpSecurityError
from bridge.xmp.packet import parse_xmp

WRAP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<dc:format>{}</dc:format></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    doctype = f"<!DOCTYPE x [{''.join(entities)}]>"
    return f'<?xml version="1.0"?>\n{doctype}\n{WRAP.format("&lol9;")}'.encode()


def quadratic_blowup() -> bytes:
    big = "A" * 50_000
    return f'<!DOCTYPE x [<!ENTITY a "{big}">]>{WRAP.format("&a;" * 50_000)}'.encode()


def xxe(secret: Path) -> bytes:
    return f'<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>{WRAP.format("&e;")}'.encode()


def external_dtd() -> bytes:
    return f'<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">{WRAP.format("x")}'.encode()


def parameter_entity(secret: Path) -> bytes:
    return (f'<!DOCTYPE x [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>{WRAP.format("x")}').encode()


def deep(levels: int) -> bytes:
    return WRAP.format("<a>" * levels + "</a>" * levels).encode()


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-7d1f")
    return path


def _refused(data: bytes, kind: type[XmpError] = XmpSecurityError, **limits: int) -> str:
    with pytest.raises(kind) as info:
        parse_xmp(data, **limits)
    return str(info.value)


def test_billion_laughs() -> None:
    assert "DOCTYPE" in _refused(billion_laughs())


def test_billion_laughs_in_utf16() -> None:
    data = codecs.BOM_UTF16_LE + billion_laughs().decode().encode("utf-16-le")
    assert "DOCTYPE" in _refused(data)


def test_quadratic_blowup() -> None:
    assert "DOCTYPE" in _refused(quadratic_blowup())


def test_xxe_local_file_is_refused_and_never_read(secret: Path) -> None:
    message = _refused(xxe(secret))
    assert "TOP-SECRET" not in message
    assert "DTDs and entities are never accepted" in message


def test_parameter_entity_is_refused(secret: Path) -> None:
    assert "TOP-SECRET" not in _refused(parameter_entity(secret))


def test_external_dtd_is_refused() -> None:
    assert "DOCTYPE" in _refused(external_dtd())


def test_hardened_parser_alone_never_reads_the_file(secret: Path) -> None:
    """Defence in depth: even if the DOCTYPE pre-check were bypassed, lxml is configured not
    to load DTDs or resolve entities, so the secret never reaches the tree."""
    try:
        root = packet_module._parse_xml(xxe(secret))
    except XmpError as exc:
        assert "TOP-SECRET" not in str(exc)
    else:
        from lxml import etree

        assert b"TOP-SECRET" not in etree.tostring(root)


def test_hardened_parser_alone_never_loads_external_declarations(tmp_path: Path) -> None:
    """Defence in depth for DTD loading: an external subset or parameter entity naming a local
    file that declares an entity must not be read (lxml would with ``load_dtd=True``)."""
    declarations = tmp_path / "evil.dtd"
    declarations.write_text('<!ENTITY leak "TOP-SECRET-7d1f">')
    use = WRAP.format("&leak;")
    documents = [
        f'<!DOCTYPE x SYSTEM "file://{declarations}">{use}',
        f'<!DOCTYPE x [<!ENTITY % p SYSTEM "file://{declarations}"> %p;]>{use}',
    ]
    for document in documents:
        try:
            root = packet_module._parse_xml(document.encode())
        except XmpError as exc:
            assert "TOP-SECRET" not in str(exc)
            continue
        docinfo = root.getroottree().docinfo
        assert docinfo.externalDTD is None
        internal = docinfo.internalDTD
        declared = [entity.name for entity in internal.iterentities()] if internal else []
        assert "leak" not in declared


def test_parser_depth_limit_holds_when_ours_is_raised() -> None:
    """libxml2's own 256-level limit stays on (no ``huge_tree``) whatever max_depth says."""
    assert "depth" in _refused(deep(1000), max_depth=5000).lower()


def test_undeclared_entity_reference() -> None:
    assert "entities are never accepted" in _refused(WRAP.format("&e;").encode())


def test_hundred_megabytes_refused_by_size_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b" " * (100 * 2**20)

    def must_not_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parser ran on an oversized input")

    monkeypatch.setattr(packet_module, "_decode", must_not_parse)
    monkeypatch.setattr(packet_module, "_parse_xml", must_not_parse)
    message = _refused(data)
    assert "104857600 bytes" in message and "limit" in message


def test_size_limit_is_configurable() -> None:
    small = WRAP.format("x").encode()
    assert "limit" in _refused(small, max_bytes=100)
    assert parse_xmp(small, max_bytes=len(small)).descriptions()


def test_ten_thousand_deep_nesting() -> None:
    message = _refused(deep(10_000))
    assert "depth" in message.lower() and "line 1" in message


def test_depth_limit_is_configurable() -> None:
    assert parse_xmp(deep(20)).descriptions()
    assert "deeper than 12 levels" in _refused(deep(20), max_depth=12)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (WRAP.format("caf\xe9").encode("latin-1"), "not valid UTF-8"),
        (WRAP.format("ok").encode().replace(b"ok", b"o\xc3\x28k"), "UTF-8"),
        (WRAP.format("a\x00b").encode(), "U+0000"),
        (b"\x00" * 64, "U+0000"),
        (WRAP.format("\x1b[31m").encode(), "U+001B"),
        (WRAP.format("\ufffe").encode(), "U+FFFE"),
    ],
)
def test_bad_bytes_are_refused(data: bytes, needle: str) -> None:
    assert needle in _refused(data, XmpParseError)
