"""ImageKit's rules as the client applies them before sending; the emulator applies its own
copy, so the end-to-end test below proves the two agree on what a name becomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.delivery import (
    DeliveryItem,
    DeliveryRefused,
    ImagekitClient,
    ImagekitOptions,
    check_all,
)
from bridge.delivery.imagekit_rules import check_tags, clean_file_name, clean_folder
from bridge.emulator.app import RunningEmulator
from tests.emulator_delivery.support import IMAGEKIT_KEY, jpeg_bytes, records


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("DSC_0001.jpg", "DSC_0001.jpg"),
        ("Hochzeit Müller 02.jpg", "Hochzeit_Müller_02.jpg"),
        ("婚礼 03.jpg", "婚礼_03.jpg"),
        ("Strand 🌅 04.jpg", "Strand___04.jpg"),
        ("a'b\"c#d%e&f(1).jpeg", "a_b_c_d_e_f_1_.jpeg"),
        ("e\u0301clair-1.jpg", "e\u0301clair-1.jpg"),  # a combining mark is kept
    ],
)
def test_file_names(name: str, stored: str) -> None:
    assert clean_file_name(name) == stored


def test_tags() -> None:
    assert check_tags([" wedding ", "", "2026"]) == (("wedding", "2026"), [])
    assert "%" in check_tags(["50%off"])[1][0]
    _, problems = check_tags(["t" * 100] * 5 + ["x"])
    assert problems and "500" in problems[0]
    assert check_tags(["t" * 100, "t" * 100, "t" * 100, "t" * 100, "t" * 96]) == (
        ("t" * 100,) * 4 + ("t" * 96,),
        [],
    )


def test_folders() -> None:
    assert clean_folder("Weddings//2026/") == ("/Weddings/2026", [])
    cleaned, changes = clean_folder("C:\\Exports\\Müller 2026")
    assert cleaned == "/C_/Exports/Müller_2026" and len(changes) == 2
    assert clean_folder("/".join(["d"] * 50))[0].count("/") == 50
    with pytest.raises(ValueError, match="51 levels"):
        clean_folder("/".join(["d"] * 51))


def _item(path: Path) -> DeliveryItem:
    return DeliveryItem(path)


def test_everything_is_refused_together_before_any_upload(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (2 * 2**20))
    raw = tmp_path / "IMG_1.CR2"
    raw.write_bytes(b"raw")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    options = ImagekitOptions(tags=("a%b",), folder="/".join(["d"] * 60), max_file_mb=1)
    client = ImagekitClient(IMAGEKIT_KEY, base_url="http://127.0.0.1:9/imagekit", options=options)
    with pytest.raises(DeliveryRefused) as caught:
        check_all(client, [_item(big), _item(raw), _item(empty), _item(tmp_path / "gone.jpg")])
    text = "\n".join(caught.value.problems)
    for words in ("'%'", "60 levels", "empty", "no such file", "IMG_1.CR2: not an image type"):
        assert words in text
    options = ImagekitOptions(max_file_mb=1)
    client = ImagekitClient(IMAGEKIT_KEY, base_url="http://127.0.0.1:9/imagekit", options=options)
    with pytest.raises(DeliveryRefused, match="over the plan's limit of 1 MB"):
        check_all(client, [_item(big)])


def test_a_public_key_is_refused() -> None:
    with pytest.raises(Exception, match="not a private key"):
        ImagekitClient("public_abc", base_url="http://127.0.0.1:9/imagekit")


async def test_client_and_emulator_agree_on_names(
    delivery_emulator: RunningEmulator, tmp_path: Path
) -> None:
    from bridge.delivery import deliver_all

    names = ["Hochzeit Müller 02.jpg", "婚礼 03.jpg", "Strand 🌅 04.jpg", "a'b\"c#d%e&f(1).jpeg"]
    items = []
    for index, name in enumerate(names):
        path = tmp_path / name
        path.write_bytes(jpeg_bytes(index))
        items.append(_item(path))
    async with ImagekitClient(IMAGEKIT_KEY, base_url=delivery_emulator.imagekit_url) as client:
        results = await deliver_all(client, items)
        changes = [client.changes_for(item) for item in items]
    assert [r.file_name for r in results] == [clean_file_name(n) for n in names]
    assert all(change for change in changes)
    held = await records(delivery_emulator, "imagekit")
    assert sorted(f["filePath"] for f in held["files"]) == sorted(
        "/" + clean_file_name(n) for n in names
    )


def test_names_that_would_collide_and_files_given_twice(tmp_path: Path) -> None:
    spaced = tmp_path / "a b.jpg"
    underscored = tmp_path / "a_b.jpg"
    for path in (spaced, underscored):
        path.write_bytes(jpeg_bytes())
    client = ImagekitClient(IMAGEKIT_KEY, base_url="http://127.0.0.1:9/imagekit")
    with pytest.raises(DeliveryRefused) as caught:
        check_all(client, [_item(spaced), _item(underscored), _item(tmp_path / "." / "a b.jpg")])
    text = "\n".join(caught.value.problems)
    assert "would both be stored as /a_b.jpg" in text and "given twice" in text
