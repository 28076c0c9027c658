"""Merge semantics: crs replaced wholesale, everything else kept, matched by URI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bridge.xmp.errors import XmpMismatchError
from bridge.xmp.merge import CrsChanges, check_belongs, crs_changes, merge_crs
from bridge.xmp.namespaces import CRS, CRSS, XMP, XMP_MM
from bridge.xmp.packet import parse_xmp, serialize_xmp
from bridge.xmp.values import XmpArray, crs_values

from .xmp_builders import dates, imagen, non_crs_snapshot

NOW = datetime(2026, 11, 21, 10, 11, 12, tzinfo=timezone(timedelta(hours=1)))
STAMP = "2026-11-21T10:11:12+01:00"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def packet(descriptions: str, extra_ns: str = "") -> bytes:
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="{RDF}"{extra_ns}>
{descriptions}
 </rdf:RDF>
</x:xmpmeta>""".encode()


def small_incoming(**attrs: str) -> bytes:
    body = " ".join(f'crs:{k}="{v}"' for k, v in attrs.items())
    return packet(f'  <rdf:Description rdf:about="" xmlns:crs="{CRS}" {body}/>')


STALE = packet(f"""  <rdf:Description rdf:about="" xmlns:crs="{CRS}" xmlns:xmp="{XMP}"
    xmlns:xmpMM="{XMP_MM}" xmlns:crss="{CRSS}"
    xmp:Rating="4" xmp:MetadataDate="2020-01-01T00:00:00Z"
    xmpMM:DocumentID="xmp.did:keep-me" xmpMM:OriginalDocumentID="ORIG"
    crs:Saturation="+17" crs:Exposure2012="+1.00">
   <crs:PaintBasedCorrections><rdf:Seq><rdf:li crs:What="Correction"/></rdf:Seq>
   </crs:PaintBasedCorrections>
   <crs:Sharpness>40</crs:Sharpness>
   <crss:Snapshots><rdf:Seq><rdf:li crss:Name="Before AI"/></rdf:Seq></crss:Snapshots>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:crs="{CRS}" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:subject><rdf:Bag><rdf:li>mine</rdf:li></rdf:Bag></dc:subject>
   <crs:CropTop>0.1</crs:CropTop>
   <crs:HasCrop>True</crs:HasCrop>
  </rdf:Description>""")


def test_stale_crs_removed_in_both_forms_in_every_description() -> None:
    merged = merge_crs(parse_xmp(STALE), parse_xmp(small_incoming(Exposure2012="+0.2")), now=NOW)
    assert crs_values(merged) == {"Exposure2012": ("+0.2",)}
    text = serialize_xmp(merged).decode()
    for stale in ("Saturation", "PaintBasedCorrections", "Sharpness", "CropTop", "HasCrop"):
        assert stale not in text
    # crss snapshots, keywords, rating and identity are untouched
    assert 'crss:Name="Before AI"' in text
    assert "<rdf:li>mine</rdf:li>" in text
    assert 'xmp:Rating="4"' in text
    assert 'xmpMM:DocumentID="xmp.did:keep-me"' in text
    assert 'xmpMM:OriginalDocumentID="ORIG"' in text
    # existing crs prefix binding reused, no duplicate declaration added
    assert text.count(f'xmlns:crs="{CRS}"') == 2
    assert f'xmp:MetadataDate="{STAMP}"' in text


def test_unknown_keys_and_structures_carried_over() -> None:
    incoming = imagen()
    merged = merge_crs(parse_xmp(STALE), incoming, now=NOW)
    values = crs_values(merged)
    assert values == crs_values(incoming)
    assert values["FooBrandNewSetting2026"] == ("+7",)
    look = values["Look"][0]
    assert isinstance(look, dict)
    parameters = look[f"{{{CRS}}}Parameters"]
    assert isinstance(parameters, dict)
    assert parameters[f"{{{CRS}}}LookTable"] == "E1095149FDB39D7A057BAB208837E2E1"
    masks = values["MaskGroupBasedCorrections"][0]
    assert isinstance(masks, XmpArray) and masks.kind == "Seq"
    correction = masks.items[0]
    assert isinstance(correction, dict)
    assert isinstance(correction[f"{{{CRS}}}CorrectionMasks"], XmpArray)


def test_incoming_non_crs_properties_are_ignored() -> None:
    existing = parse_xmp(STALE)
    merged = merge_crs(existing, imagen(), now=NOW)  # imagen() says Rating 1, keyword
    assert non_crs_snapshot(merged) == non_crs_snapshot(existing)
    assert b"from-the-service" not in serialize_xmp(merged)


def test_inputs_are_not_modified() -> None:
    existing, incoming = parse_xmp(STALE), imagen()
    before = serialize_xmp(existing), serialize_xmp(incoming)
    merge_crs(existing, incoming, now=NOW)
    assert (serialize_xmp(existing), serialize_xmp(incoming)) == before


def test_crs_on_another_prefix_is_found_and_reused() -> None:
    existing = parse_xmp(
        packet(f"""  <rdf:Description rdf:about="" xmlns:cam="{CRS}" cam:Exposure2012="+3"
    cam:Whites2012="10"><cam:Sharpness>5</cam:Sharpness></rdf:Description>""")
    )
    merged = merge_crs(existing, imagen(prefix="zz"), now=NOW)
    assert crs_values(merged) == crs_values(imagen())
    text = serialize_xmp(merged).decode()
    assert 'cam:Exposure2012="+0.35"' in text and "Whites2012" not in text
    assert "<cam:ToneCurvePV2012>" in text and "zz:" not in text


def test_crs_prefix_bound_to_a_foreign_uri_is_left_alone() -> None:
    other = "http://example.com/not-camera-raw/"
    existing = parse_xmp(
        packet(f"""  <rdf:Description rdf:about="" xmlns:crs="{other}" crs:Exposure2012="keep">
   <crs:Tool>also keep</crs:Tool>
  </rdf:Description>""")
    )
    merged = merge_crs(existing, imagen(), now=NOW)
    reread = parse_xmp(serialize_xmp(merged))
    assert crs_values(reread) == crs_values(imagen())
    snapshot = dict(non_crs_snapshot(reread))
    assert snapshot[f"{{{other}}}Exposure2012"] == "keep"
    assert snapshot[f"{{{other}}}Tool"] == "also keep"
    # the real crs landed in its own Description; the foreign binding is untouched
    first, second = merged.descriptions()
    assert first.nsmap["crs"] == other and second.nsmap["crs"] == CRS
    assert not any(name.startswith(f"{{{CRS}}}") for name in first.attrib)


def test_crs_prefix_shadowed_on_the_rdf_element() -> None:
    other = "http://example.com/other/"
    existing = parse_xmp(
        packet(
            '  <rdf:Description rdf:about="" crs:Thing="keep"/>',
            extra_ns=f' xmlns:crs="{other}"',
        )
    )
    merged = merge_crs(existing, imagen(), now=NOW)
    reread = parse_xmp(serialize_xmp(merged))
    assert dict(non_crs_snapshot(reread))[f"{{{other}}}Thing"] == "keep"
    assert crs_values(reread) == crs_values(imagen())
    assert b'xmlns:crs1="http://ns.adobe.com/camera-raw-settings/1.0/"' in serialize_xmp(merged)


def test_old_xap_prefix_dates_updated_in_place() -> None:
    existing = parse_xmp(
        packet(f"""  <rdf:Description rdf:about="" xmlns:xap="{XMP}">
   <xap:Rating>2</xap:Rating>
   <xap:MetadataDate>2005-01-01T00:00:00Z</xap:MetadataDate>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:crs="{CRS}" crs:Exposure="+1"/>""")
    )
    merged = merge_crs(existing, imagen(), now=NOW)
    text = serialize_xmp(merged).decode()
    assert f"<xap:MetadataDate>{STAMP}</xap:MetadataDate>" in text
    assert f"<xap:ModifyDate>{STAMP}</xap:ModifyDate>" in text  # added in the element form
    assert "<xap:Rating>2</xap:Rating>" in text
    assert "xmp:" not in text


def test_dates_keep_their_attribute_form_and_description() -> None:
    existing = parse_xmp(STALE)
    merged = merge_crs(existing, imagen(), now=NOW)
    first = merged.descriptions()[0]
    assert first.get(f"{{{XMP}}}MetadataDate") == STAMP
    assert first.get(f"{{{XMP}}}ModifyDate") == STAMP
    assert dates(merged) == {"MetadataDate": [STAMP], "ModifyDate": [STAMP]}


def test_every_date_occurrence_is_updated_in_its_own_form() -> None:
    existing = parse_xmp(
        packet(f"""  <rdf:Description rdf:about="" xmlns:xmp="{XMP}"
    xmp:MetadataDate="2001-01-01T00:00:00Z" xmp:ModifyDate="2001-01-01T00:00:00Z"/>
  <rdf:Description rdf:about="" xmlns:xmp="{XMP}" xmp:MetadataDate="2002-01-01T00:00:00Z">
   <xmp:ModifyDate>2002-01-01T00:00:00Z</xmp:ModifyDate>
  </rdf:Description>""")
    )
    merged = merge_crs(existing, imagen(), now=NOW)
    assert dates(merged) == {"MetadataDate": [STAMP, STAMP], "ModifyDate": [STAMP, STAMP]}
    second = merged.descriptions()[1]
    assert second.get(f"{{{XMP}}}MetadataDate") == STAMP
    assert [child.text for child in second.iter(f"{{{XMP}}}ModifyDate")] == [STAMP]


def test_dates_added_to_a_new_description_when_xmp_is_not_declared() -> None:
    existing = parse_xmp(
        packet('  <rdf:Description rdf:about="" xmlns:f="http://f/" f:favorite="1"/>')
    )
    merged = merge_crs(existing, imagen(), now=NOW)
    reread = parse_xmp(serialize_xmp(merged))
    assert dates(reread) == {"MetadataDate": [STAMP], "ModifyDate": [STAMP]}
    assert dict(non_crs_snapshot(reread)) == {"{http://f/}favorite": "1"}


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        merge_crs(None, imagen(), now=datetime(2026, 1, 1))


def test_fresh_sidecar_holds_crs_and_dates_only() -> None:
    fresh = merge_crs(None, imagen(), now=NOW)
    reread = parse_xmp(serialize_xmp(fresh))
    assert crs_values(reread) == crs_values(imagen())
    assert non_crs_snapshot(reread) == []
    assert dates(reread) == {"MetadataDate": [STAMP], "ModifyDate": [STAMP]}
    assert len(reread.descriptions()) == 1
    assert b"DocumentID" not in serialize_xmp(fresh)


def test_merging_the_same_result_twice_changes_nothing() -> None:
    first = merge_crs(parse_xmp(STALE), imagen(), now=NOW)
    second = merge_crs(parse_xmp(serialize_xmp(first)), imagen(), now=NOW)
    assert crs_changes(first, second).empty
    assert crs_changes(first, second).summary() == "unchanged"
    assert serialize_xmp(second) == serialize_xmp(first)


def test_crs_changes_reports_added_removed_changed() -> None:
    before = parse_xmp(STALE)
    after = merge_crs(before, imagen(), now=NOW)
    changes = crs_changes(before, after)
    assert "Saturation" in changes.removed and "Sharpness" in changes.removed
    assert "Look" in changes.added and "FooBrandNewSetting2026" in changes.added
    assert changes.changed == ("CropTop", "Exposure2012")
    assert not changes.empty
    assert changes.summary().startswith(f"{len(changes.added)} added")


def test_crs_changes_sees_a_change_deep_inside_a_structure() -> None:
    one = imagen()
    two = imagen()
    for node in two.root.iter(f"{{{RDF}}}Description"):
        if node.get(f"{{{CRS}}}LookTable"):
            node.set(f"{{{CRS}}}LookTable", "0000")
    assert crs_changes(one, two) == CrsChanges(changed=("Look",))


def test_crs_changes_against_nothing() -> None:
    changes = crs_changes(None, imagen())
    assert changes.added == tuple(sorted(crs_values(imagen())))
    assert crs_changes(None, parse_xmp(packet(""))).empty


class TestCheckBelongs:
    def test_matching_name_stem_and_case(self) -> None:
        check_belongs(imagen("IMG_0001.CR2"), Path("/photos/IMG_0001.CR2"))
        check_belongs(imagen("img_0001.cr2"), Path("/photos/IMG_0001.CR2"))
        check_belongs(imagen("IMG_0001.dng"), Path("/photos/IMG_0001.CR2"))
        check_belongs(parse_xmp(small_incoming(Exposure2012="1")), Path("x.NEF"))

    def test_other_photo_names_both(self) -> None:
        with pytest.raises(XmpMismatchError) as info:
            check_belongs(imagen("IMG_0002.CR2"), Path("/photos/IMG_0001.CR2"))
        assert "IMG_0002.CR2" in str(info.value) and "IMG_0001.CR2" in str(info.value)

    def test_unicode_names(self) -> None:
        check_belongs(imagen("Grüße 東京 📷.ARW"), Path("/p/Grüße 東京 📷.ARW"))
        with pytest.raises(XmpMismatchError):
            check_belongs(imagen("Grusse.ARW"), Path("/p/Grüße.ARW"))

    def test_no_crs_is_nothing_to_merge(self) -> None:
        empty = parse_xmp(
            packet(f'  <rdf:Description rdf:about="" xmlns:xmp="{XMP}" xmp:Rating="5"/>')
        )
        with pytest.raises(XmpMismatchError, match="nothing to merge"):
            check_belongs(empty, Path("IMG_0001.CR2"))

    def test_already_applied_refused_for_raw_only(self) -> None:
        baked = parse_xmp(small_incoming(AlreadyApplied="True", RawFileName="IMG_1.jpg"))
        with pytest.raises(XmpMismatchError, match="AlreadyApplied"):
            check_belongs(baked, Path("IMG_1.NEF"))
        with pytest.raises(XmpMismatchError, match="AlreadyApplied"):
            check_belongs(baked, Path("IMG_1.jpg"), is_raw=True)
        check_belongs(baked, Path("IMG_1.jpg"))
        check_belongs(parse_xmp(small_incoming(AlreadyApplied="False")), Path("IMG_1.NEF"))
