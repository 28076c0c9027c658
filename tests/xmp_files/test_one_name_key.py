"""Planning an edit and placing its sidecars agree on which names are the same name, and on
which files are photos: one definition of each (``bridge.xmp.formats``), used by both."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.jobs.plan import kind_of, plan_edit
from bridge.xmp.batch import plan_merge
from bridge.xmp.errors import SidecarRefusedError
from bridge.xmp.formats import IMAGEN_RAW_EXTENSIONS, SIDECAR_RAW_EXTENSIONS, collision_key
from bridge.xmp.sidecar import Folder, locate_sidecar
from tests.xmp_files.helpers import incoming_xmp, touch

NFD = "Mu\u0308ller"  # "Müller" with a combining diaeresis, as macOS may store it
#: Stems that a case-insensitive, normalisation-insensitive comparison takes for one name.
SAME = [
    ("Straße", "STRASSE"),
    ("straße", "Strasse"),
    ("Müller", NFD),
    ("MÜLLER", NFD),
    ("ﬁsh", "FISH"),  # the fi ligature folds to "fi"
    ("ΣΟΦΟΣ", "σοφος"),  # final sigma
    ("IMG_1", "img_1"),
]
#: Stems that are different names.
DIFFERENT = [("Straße", "Strase"), ("Müller", "Muller"), ("IMG_1", "IMG_2"), ("ﬁsh", "fis")]


@pytest.mark.parametrize(("one", "other"), [*SAME, *DIFFERENT])
def test_planning_and_sidecar_placement_agree_on_same_names(
    tmp_path: Path, one: str, other: str
) -> None:
    same = (one, other) in SAME
    assert (collision_key(one) == collision_key(other)) is same

    # Planning: two photos whose stems are the same name never share a project.
    first, second = tmp_path / "a" / f"{one}.CR2", tmp_path / "b" / f"{other}.CR2"
    touch(first.parent, first.name)
    touch(second.parent, second.name)
    plan = plan_edit([first, second])
    assert (len(plan.projects) == 2) is same

    # Sidecar placement: a raw beside it with that stem competes for the same STEM.xmp.
    shoot = tmp_path / "shoot"
    photo, _ = touch(shoot, f"{one}.CR2", f"{other}.NEF")
    if same:
        with pytest.raises(SidecarRefusedError, match="shares its name"):
            locate_sidecar(photo)
    else:
        assert locate_sidecar(photo).sidecar == shoot / f"{one}.xmp"
    assert (Folder(shoot, [f"{other}.xmp"]).lookup(f"{one}.xmp") != []) is same


def test_an_incoming_sidecar_finds_its_photo_by_the_same_key(tmp_path: Path) -> None:
    """``STRASSE.xmp`` back from Imagen belongs to ``Straße.CR2``: Imagen may have
    compared (and named) them as the planner did."""
    shoot, incoming = tmp_path / "shoot", tmp_path / "in"
    (photo,) = touch(shoot, "Straße.CR2")
    (source,) = touch(incoming, "STRASSE.xmp", data=incoming_xmp("Straße.CR2"))
    (item,) = plan_merge([source], shoot).items
    assert item.refusal is None
    assert item.location is not None and item.location.photo == photo
    assert item.location.sidecar == shoot / "Straße.xmp"


def test_every_raw_imagen_edits_gets_a_sidecar_or_embedded_settings() -> None:
    """A raw the planner sends to Imagen is one sidecar placement knows (DNG embeds XMP)."""
    assert set(IMAGEN_RAW_EXTENSIONS) - SIDECAR_RAW_EXTENSIONS == {"dng"}


@pytest.mark.parametrize(
    "name",
    [
        "IMG_1.\u212adc",  # the Kelvin sign lower-cases to an ASCII "k": not a .kdc
        "IMG_1.\u017frf",  # a long s casefolds to "s": not a .srf
    ],
)
def test_look_alike_extensions_are_not_photo_formats_anywhere(tmp_path: Path, name: str) -> None:
    assert kind_of(Path(name)) is None
    (photo,) = touch(tmp_path, name)
    with pytest.raises(SidecarRefusedError, match="not a raw photo type"):
        locate_sidecar(photo)
