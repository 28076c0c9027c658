"""Which sidecar belongs to a photo: Adobe naming, case-insensitivity, refusals."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from bridge.xmp.errors import EmbeddedXmpPhotoError, SidecarRefusedError
from bridge.xmp.formats import split_name
from bridge.xmp.sidecar import (
    Folder,
    Naming,
    check_declared_extension,
    locate_sidecar,
)
from tests.xmp_files.helpers import touch


def test_adobe_name_replaces_the_extension(tmp_path: Path) -> None:
    (photo,) = touch(tmp_path, "IMG_1.CR2")
    location = locate_sidecar(photo)
    assert location.sidecar == tmp_path / "IMG_1.xmp"
    assert not location.exists


def test_extension_matched_case_insensitively(tmp_path: Path) -> None:
    (photo,) = touch(tmp_path, "img_2.cr2")
    assert locate_sidecar(photo).sidecar.name == "img_2.xmp"


def test_existing_upper_case_sidecar_is_the_sidecar_and_keeps_its_name(tmp_path: Path) -> None:
    photo, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.XMP")
    location = locate_sidecar(photo)
    assert location.exists
    assert location.sidecar == tmp_path / "IMG_1.XMP"


def test_existing_sidecar_matched_across_unicode_normal_forms(tmp_path: Path) -> None:
    # macOS/SMB may store names decomposed; the sidecar must still be found, not duplicated.
    photo_name = unicodedata.normalize("NFC", "Müller 😀.NEF")
    sidecar_name = unicodedata.normalize("NFD", "MÜLLER 😀.xmp")
    photo, _ = touch(tmp_path, photo_name, sidecar_name)
    location = locate_sidecar(photo)
    assert location.exists
    assert location.sidecar.name == sidecar_name


def test_two_case_variants_of_the_sidecar_are_refused(tmp_path: Path) -> None:
    photo, _, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.xmp", "IMG_1.XMP")
    with pytest.raises(SidecarRefusedError, match=r"IMG_1\.XMP, IMG_1\.xmp"):
        locate_sidecar(photo)


def test_darktable_naming_only_on_request(tmp_path: Path) -> None:
    photo, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.cr2.XMP")
    assert locate_sidecar(photo).sidecar.name == "IMG_1.xmp"
    darktable = locate_sidecar(photo, naming=Naming.DARKTABLE)
    assert darktable.exists
    assert darktable.sidecar.name == "IMG_1.cr2.XMP"


def test_darktable_naming_creates_name_ext_xmp(tmp_path: Path) -> None:
    (photo,) = touch(tmp_path, "DSC 01.NEF")
    assert locate_sidecar(photo, naming=Naming.DARKTABLE).sidecar.name == "DSC 01.NEF.xmp"


def test_two_raws_sharing_a_stem_are_refused_naming_both(tmp_path: Path) -> None:
    cr2, _ = touch(tmp_path, "IMG_1.CR2", "img_1.nef")
    with pytest.raises(SidecarRefusedError) as caught:
        locate_sidecar(cr2)
    assert "img_1.nef" in str(caught.value)
    assert "IMG_1.xmp" in str(caught.value)


def test_raw_and_dng_sharing_a_stem_are_refused(tmp_path: Path) -> None:
    cr2, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.dng")
    with pytest.raises(SidecarRefusedError, match=r"IMG_1\.dng"):
        locate_sidecar(cr2)


def test_shared_stem_does_not_matter_for_darktable_names(tmp_path: Path) -> None:
    cr2, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.NEF")
    assert locate_sidecar(cr2, naming=Naming.DARKTABLE).sidecar.name == "IMG_1.CR2.xmp"


def test_raw_plus_jpeg_pair_is_fine(tmp_path: Path) -> None:
    cr2, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.JPG")
    assert locate_sidecar(cr2).sidecar.name == "IMG_1.xmp"


@pytest.mark.parametrize("name", ["IMG_1.DNG", "IMG_1.jpg", "IMG_1.JPEG", "IMG_1.tif", "a.TIFF",
                                  "b.heic", "c.psd", "d.png"])  # fmt: skip
def test_embedded_xmp_types_get_no_sidecar(tmp_path: Path, name: str) -> None:
    (photo,) = touch(tmp_path, name)
    with pytest.raises(EmbeddedXmpPhotoError, match="settings go to Lightroom"):
        locate_sidecar(photo)


def test_unknown_type_is_refused(tmp_path: Path) -> None:
    (photo,) = touch(tmp_path, "notes.txt")
    with pytest.raises(SidecarRefusedError, match="not a raw photo"):
        locate_sidecar(photo)


def test_missing_photo_and_missing_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SidecarRefusedError, match="no such photo"):
        locate_sidecar(touch(tmp_path, "x.CR2")[0].with_name("y.CR2"))
    with pytest.raises(SidecarRefusedError, match="Cannot list the folder"):
        locate_sidecar(tmp_path / "gone" / "IMG_1.CR2")


def test_a_folder_listing_is_reused(tmp_path: Path) -> None:
    photo, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.xmp")
    folder = Folder.scan(tmp_path)
    (tmp_path / "IMG_1.xmp").unlink()  # the listing is a snapshot; the caller decides when
    assert locate_sidecar(photo, folder=folder).exists


def test_sidecar_for_extension_mismatch_is_refused(tmp_path: Path) -> None:
    photo, _ = touch(tmp_path, "IMG_1.CR2", "IMG_1.xmp")
    location = locate_sidecar(photo)
    check_declared_extension(None, location)
    check_declared_extension("cr2", location)
    check_declared_extension(" CR2 ", location)
    with pytest.raises(SidecarRefusedError, match=r"belongs to a \.NEF file"):
        check_declared_extension("NEF", location)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("IMG_1.CR2", ("IMG_1", "cr2")), ("a.b.NEF", ("a.b", "nef")), (".hidden", (".hidden", "")),
     ("noext", ("noext", "")), ("IMG_1.CR2.xmp", ("IMG_1.CR2", "xmp"))],
)  # fmt: skip
def test_split_name(name: str, expected: tuple[str, str]) -> None:
    assert split_name(name) == expected
