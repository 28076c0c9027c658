"""crs -> applyDevelopSettings table: typing, curves, structures, white balance, crop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.xmp.develop import convert, develop_settings
from bridge.xmp.errors import XmpParseError
from bridge.xmp.namespaces import CRS
from bridge.xmp.packet import XmpPacket, parse_xmp

from .xmp_builders import imagen

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "xmp-samples"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def crs_packet(attributes: dict[str, str], body: str = "") -> XmpPacket:
    attrs = " ".join(f'crs:{key}="{value}"' for key, value in attributes.items())
    return parse_xmp(
        f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">
        <rdf:Description rdf:about="" xmlns:crs="{CRS}" {attrs}>{body}</rdf:Description>
        </rdf:RDF></x:xmpmeta>""".encode()
    )


def seq(key: str, items: list[str]) -> str:
    lis = "".join(f"<rdf:li>{item}</rdf:li>" for item in items)
    return f"<crs:{key}><rdf:Seq>{lis}</rdf:Seq></crs:{key}>"


def test_imagen_packet_for_a_raw() -> None:
    table = develop_settings(imagen(), is_raw=True)
    assert json.loads(json.dumps(table)) == table
    assert table["Exposure2012"] == 0.35 and isinstance(table["Exposure2012"], float)
    assert table["Contrast2012"] == -8 and isinstance(table["Contrast2012"], int)
    assert table["Temperature"] == 5450 and table["Tint"] == 12
    assert table["WhiteBalance"] == "Custom"
    assert table["CameraProfile"] == "Adobe Standard"
    assert table["ProcessVersion"] == "15.4"
    assert table["ToneCurvePV2012"] == [0, 0, 64, 60, 255, 255]
    assert table["ToneCurvePV2012Red"] == [0, 0, 255, 255]
    assert table["ToneCurveName2012"] == "Custom"
    assert table["HasCrop"] is True and table["CropAngle"] == 0.8
    assert table["FooBrandNewSetting2026"] == 7
    for bookkeeping in ("Version", "RawFileName", "AlreadyApplied", "HasSettings"):
        assert bookkeeping not in table
    look = table["Look"]
    assert look["Name"] == "Adobe Color" and look["Amount"] == 1
    assert look["UUID"] == "B952C231111CD8E0ECCF14B86BAA7077"
    assert look["Group"] == {"x-default": "Profiles"}
    assert look["Parameters"] == {
        "Version": "16.5",
        "ProcessVersion": "15.4",
        "ConvertToGrayscale": False,
        "LookTable": "E1095149FDB39D7A057BAB208837E2E1",
    }
    (correction,) = table["MaskGroupBasedCorrections"]
    assert correction["CorrectionActive"] is True
    assert correction["LocalExposure2012"] == 0.2
    assert correction["CorrectionSyncID"] == "4C5B1A1E"  # nested ids tie masks together
    (mask,) = correction["CorrectionMasks"]
    assert mask == {
        "What": "Mask/Image",
        "MaskActive": True,
        "MaskName": "Subject",
        "MaskSubType": 1,
        "MaskVersion": "1",
        "MaskInverted": False,
    }


def test_non_raw_takes_incremental_white_balance_and_reports_kelvin() -> None:
    result = convert(imagen(), is_raw=False)
    assert "Temperature" not in result.settings and "Tint" not in result.settings
    assert any(note.startswith("Temperature:") for note in result.dropped)
    assert any(note.startswith("Tint:") for note in result.dropped)
    packet = crs_packet({"IncrementalTemperature": "+15", "IncrementalTint": "-3"})
    table = develop_settings(packet, is_raw=False)
    assert table == {"IncrementalTemperature": 15, "IncrementalTint": -3, "WhiteBalance": "Custom"}


def test_raw_drops_incremental_white_balance() -> None:
    packet = crs_packet({"IncrementalTemperature": "+15", "WhiteBalance": "As Shot"})
    result = convert(packet, is_raw=True)
    assert result.settings == {"WhiteBalance": "As Shot"}
    assert result.dropped[0].startswith("IncrementalTemperature: not valid for a raw")


def test_legacy_curve_and_explicit_has_crop() -> None:
    packet = crs_packet(
        {"ToneCurveName": "Medium Contrast", "HasCrop": "False", "CropTop": "0"},
        seq("ToneCurve", ["0, 0", "32, 22", "255, 255"]),
    )
    table = develop_settings(packet, is_raw=True)
    assert table["ToneCurve"] == [0, 0, 32, 22, 255, 255]
    assert table["ToneCurveName"] == "Custom"
    assert "ToneCurveName2012" not in table
    assert table["HasCrop"] is False


def test_names_that_look_numeric_stay_strings() -> None:
    packet = crs_packet(
        {
            "CameraProfile": "2",
            "LensProfileName": "50",
            "LookTable": "12345678901234567890123456789012",
            "ProcessVersion": "11.0",
            "Table_1E5": "1E5",
            "Exposure2012": "1E5",
            "Treatment": "Color",
        }
    )
    table = develop_settings(packet, is_raw=True)
    assert table["CameraProfile"] == "2"
    assert table["LensProfileName"] == "50"
    assert table["LookTable"] == "12345678901234567890123456789012"
    assert table["ProcessVersion"] == "11.0"
    assert table["Table_1E5"] == "1E5"
    assert table["Exposure2012"] == "1E5"  # exponents are never parsed as numbers
    assert table["Treatment"] == "Color"


def test_digests_sync_ids_and_preset_metadata_dropped() -> None:
    packet = crs_packet(
        {
            "CameraProfileDigest": "ABC",
            "LensProfileDigest": "DEF",
            "SyncID": "1",
            "PresetType": "Normal",
            "UUID": "X",
            "Name": "My preset",
            "SupportsAmount": "True",
            "RequiresRGBTables": "False",
            "Sharpness": "40",
        }
    )
    result = convert(packet, is_raw=True)
    assert result.settings == {"Sharpness": 40}
    assert len(result.dropped) == 8


def test_malformed_curve_is_a_clear_error() -> None:
    with pytest.raises(XmpParseError, match=r"ToneCurvePV2012 point 2 is 'abc'"):
        develop_settings(crs_packet({}, seq("ToneCurvePV2012", ["0, 0", "abc"])), is_raw=True)
    with pytest.raises(XmpParseError, match="point 1"):
        develop_settings(crs_packet({}, seq("ToneCurvePV2012", ["1, 2, 3"])), is_raw=True)


def test_duplicate_key_last_wins() -> None:
    packet = crs_packet(
        {"Name": "a", "Exposure2012": "+1"}, "<crs:Exposure2012>-1</crs:Exposure2012>"
    )
    assert develop_settings(packet, is_raw=True) == {"Exposure2012": -1}


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in SAMPLES.glob("*.xmp")
        if p.name not in {"exiv2_issue_1713_poc.xmp", "exiftool_XMP2.xmp"}
    ),
)
def test_every_sample_converts_to_json(name: str) -> None:
    packet = parse_xmp((SAMPLES / name).read_bytes())
    for is_raw in (True, False):
        table = develop_settings(packet, is_raw=is_raw)
        assert json.loads(json.dumps(table)) == table


numbers = st.one_of(
    st.integers(-100_000, 100_000).map(lambda n: (f"{n:+d}" if n % 2 else str(n), n)),
    st.decimals(-1000, 1000, places=3, allow_nan=False, allow_infinity=False).map(
        lambda d: (f"{d:+.3f}", float(d))
    ),
)


@settings(max_examples=100, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(["Exposure2012", "Shadows2012", "Texture", "Foo", "Dehaze", "GrainSize"]),
        numbers,
        min_size=1,
    ),
    flags=st.dictionaries(
        st.sampled_from(["ConvertToGrayscale", "AutoTone", "EnableRetouch"]),
        st.sampled_from(["True", "False", "true", "false"]),
    ),
    curve=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), min_size=0, max_size=16),
)
def test_conversion_types_numbers_booleans_and_curves(
    values: dict[str, tuple[str, float]], flags: dict[str, str], curve: list[tuple[int, int]]
) -> None:
    body = seq("ToneCurvePV2012", [f"{x}, {y}" for x, y in curve]) if curve else ""
    packet = crs_packet({k: text for k, (text, _) in values.items()} | flags, body)
    table = develop_settings(packet, is_raw=True)
    for key, (_, number) in values.items():
        assert table[key] == number
        assert type(table[key]) is type(number)
    for key, text in flags.items():
        assert table[key] is (text.lower() == "true")
    if curve:
        flat = table["ToneCurvePV2012"]
        assert len(flat) % 2 == 0 and len(flat) == 2 * len(curve)
        assert all(type(n) is int for n in flat)
        assert flat == [n for point in curve for n in point]
        assert table["ToneCurveName2012"] == "Custom"
    else:
        assert "ToneCurveName2012" not in table
    assert json.loads(json.dumps(table)) == table
