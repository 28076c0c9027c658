"""Property-based merge: for random packets, non-crs content is untouched and crs == incoming."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from bridge.xmp.merge import crs_changes, merge_crs
from bridge.xmp.namespaces import (
    CRS,
    DC,
    RDF,
    RDF_ABOUT,
    RDF_DESCRIPTION,
    RDF_LI,
    RDF_PARSE_TYPE,
    RDF_RDF,
    XMP,
    X,
)
from bridge.xmp.packet import XmpPacket, parse_xmp, serialize_xmp
from bridge.xmp.values import crs_values

from .xmp_builders import dates, non_crs_snapshot

NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-7, minutes=-30)))
OTHER_NAMESPACES = {
    "xmp": XMP,
    "dc": DC,
    "fish": "http://testtag.com/fish/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
}
CRS_PREFIXES = ["crs", "c", "ns9", "camera"]
LOCALS = ["Rating", "Label", "title", "subject", "Foo", "Exposure2012", "Look", "Sharpness"]

xml_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="\ufeff"),
    max_size=12,
)
forms = st.sampled_from(["attr", "elem", "bag", "seq", "struct", "desc"])
properties = st.lists(
    st.tuples(
        st.sampled_from([*OTHER_NAMESPACES.values(), CRS, CRS]),
        st.sampled_from(LOCALS),
        forms,
        st.lists(xml_text, min_size=1, max_size=3),
    ),
    max_size=8,
)


def _add(description: etree._Element, uri: str, local: str, form: str, values: list[str]) -> None:
    name = f"{{{uri}}}{local}"
    if form == "attr":
        if description.get(name) is None:
            description.set(name, values[0])
        return
    element = etree.SubElement(description, name)
    if form == "elem":
        element.text = values[0]
    elif form in {"bag", "seq"}:
        container = etree.SubElement(element, f"{{{RDF}}}{form.title()}")
        for value in values:
            etree.SubElement(container, RDF_LI).text = value
    elif form == "struct":
        element.set(RDF_PARSE_TYPE, "Resource")
        for index, value in enumerate(values):
            etree.SubElement(element, f"{{{uri}}}Field{index}").text = value
    else:
        inner = etree.SubElement(element, RDF_DESCRIPTION)
        for index, value in enumerate(values):
            inner.set(f"{{{uri}}}Field{index}", value)


@st.composite
def packets(draw: st.DrawFn, *, max_descriptions: int = 3) -> XmpPacket:
    crs_prefix = draw(st.sampled_from(CRS_PREFIXES))
    nsmap = {**OTHER_NAMESPACES, crs_prefix: CRS}
    on_rdf = draw(st.booleans())
    root = etree.Element(f"{{{X}}}xmpmeta", nsmap={"x": X})
    rdf = etree.SubElement(root, RDF_RDF, nsmap={"rdf": RDF, **(nsmap if on_rdf else {})})
    for _ in range(draw(st.integers(1, max_descriptions))):
        description = etree.SubElement(rdf, RDF_DESCRIPTION, nsmap=None if on_rdf else nsmap)
        description.set(RDF_ABOUT, "")
        for uri, local, form, values in draw(properties):
            _add(description, uri, local, form, values)
    if draw(st.booleans()):
        etree.indent(root, space=draw(st.sampled_from([" ", "  ", "\t"])))
    return parse_xmp(etree.tostring(root, encoding="utf-8"))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(existing=packets(), incoming=packets(max_descriptions=2))
def test_merge_keeps_everything_else_and_takes_all_crs(
    existing: XmpPacket, incoming: XmpPacket
) -> None:
    merged = merge_crs(existing, incoming, now=NOW)
    assert non_crs_snapshot(merged) == non_crs_snapshot(existing)
    assert crs_values(merged) == crs_values(incoming)
    stamp = "2030-05-06T07:08:09-07:30"
    assert {v for vs in dates(merged).values() for v in vs} == {stamp}
    assert set(dates(merged)) == {"MetadataDate", "ModifyDate"}

    reread = parse_xmp(serialize_xmp(merged))
    assert non_crs_snapshot(reread) == non_crs_snapshot(existing)
    assert crs_values(reread) == crs_values(incoming)

    again = merge_crs(reread, incoming, now=NOW)
    assert crs_changes(reread, again).empty
    assert serialize_xmp(again) == serialize_xmp(merged)


@settings(max_examples=40, deadline=None)
@given(incoming=packets(max_descriptions=2))
def test_fresh_sidecar_is_exactly_the_incoming_crs(incoming: XmpPacket) -> None:
    fresh = parse_xmp(serialize_xmp(merge_crs(None, incoming, now=NOW)))
    assert crs_values(fresh) == crs_values(incoming)
    assert non_crs_snapshot(fresh) == []
