"""The official imagen-ai-sdk 1.2.2, unchanged, against the emulator over real sockets."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from imagen_sdk import EditOptions, I2IEditOptions, ImagenClient, PhotographyType
from imagen_sdk.exceptions import AuthenticationError, ImagenError, ProjectError
from PIL import Image

from bridge.emulator.faults import FaultConfig
from tests.conftest import EmulatorFactory
from tests.emulator.support import jpeg_bytes

# processing_s=0: the SDK's first status poll (before its 10 s sleep) already sees Completed.
FAST = FaultConfig(processing_s=0)


@pytest.mark.parametrize("envelope", ["bare", "data"])
async def test_classic_flow_edit_download_export(
    emulator_factory: EmulatorFactory, tmp_path: Path, envelope: str
) -> None:
    emulator = await emulator_factory(envelope=envelope, faults=FAST)
    photos = []
    for index in range(3):
        photo = tmp_path / f"IMG_{index}.NEF"
        photo.write_bytes(os.urandom(2048))
        photos.append(photo)
    async with ImagenClient("any-key", base_url=emulator.base_url) as client:
        profiles = await client.get_profiles()
        raw_profile = next(p for p in profiles if p.image_type == "RAW")
        assert {p.image_type for p in profiles} == {"RAW", "JPG"}
        assert {p.profile_type for p in profiles} == {"Personal", "Talent"}
        templates = await client.get_sky_replacement_templates()
        assert any(t.is_default for t in templates)

        uuid = await client.create_project(f"Wedding {envelope}")
        summary = await client.upload_images(uuid, photos)
        assert (summary.successful, summary.failed) == (3, 0)

        status = await client.start_editing(
            uuid,
            raw_profile.profile_key,
            PhotographyType.WEDDING,
            edit_options=EditOptions(crop=True, straighten=True, subject_mask=True),
        )
        assert status.status == "Completed"
        links = await client.get_download_links(uuid)
        files = await client.download_files(links, tmp_path / "xmp")
        assert sorted(Path(f).name for f in files) == ["IMG_0.xmp", "IMG_1.xmp", "IMG_2.xmp"]
        assert b'crs:RawFileName="IMG_1.NEF"' in (tmp_path / "xmp" / "IMG_1.xmp").read_bytes()

        export = await client.export_project(uuid)
        assert export.status == "Completed"
        exported = await client.download_files(
            await client.get_export_links(uuid), tmp_path / "jpg"
        )
        assert sorted(Path(f).name for f in exported) == ["IMG_0.jpg", "IMG_1.jpg", "IMG_2.jpg"]
        for path in exported:
            with Image.open(path) as image:
                image.load()
                assert image.format == "JPEG"

        listing = await client.list_projects()
        assert listing.projects[0].project_uuid == uuid
        assert listing.projects[0].number_of_images == 3
        assert (await client.get_project(uuid)).status == "Completed"


async def test_sdk_reads_failed_edit_details(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await emulator_factory(
        faults=FaultConfig(processing_s=0, fail_files=frozenset({"bad.jpg"}))
    )
    photo = tmp_path / "bad.jpg"
    photo.write_bytes(jpeg_bytes())
    async with ImagenClient("k", base_url=emulator.base_url) as client:
        uuid = await client.create_project()
        await client.upload_images(uuid, [photo])
        with pytest.raises(ProjectError, match=r"Edit failed\. Details: .*bad\.jpg"):
            await client.start_editing(uuid, 5702)


async def test_sdk_sees_wrong_key_and_validation_errors(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await emulator_factory(api_key="right-key", faults=FAST)
    async with ImagenClient("wrong-key", base_url=emulator.base_url) as client:
        with pytest.raises(AuthenticationError):
            await client.get_profiles()
    photo = tmp_path / "a.jpg"
    photo.write_bytes(jpeg_bytes())
    async with ImagenClient("right-key", base_url=emulator.base_url) as client:
        uuid = await client.create_project()
        await client.upload_images(uuid, [photo])
        with pytest.raises(ImagenError, match="RAW profile cannot be used with JPG files"):
            await client.start_editing(uuid, 5700)


@pytest.mark.slow
@pytest.mark.parametrize("envelope", ["bare", "data"])
async def test_smart_editing_with_multipart_upload(
    emulator_factory: EmulatorFactory, tmp_path: Path, envelope: str
) -> None:
    emulator = await emulator_factory(envelope=envelope, faults=FAST)
    big = tmp_path / "big.jpg"
    with big.open("wb") as stream:  # a real JPEG header, then sparse padding past 64 MiB
        stream.write(jpeg_bytes(1))
        stream.truncate(64 * 2**20 + 4096)
    small = tmp_path / "small.jpg"
    small.write_bytes(jpeg_bytes(2))
    async with ImagenClient("k", base_url=emulator.base_url) as client:
        uuid = await client.create_i2i_project(f"smart {envelope}")
        summary = await client.upload_i2i_images(uuid, [big, small])
        assert (summary.successful, summary.failed) == (2, 0), summary
        project = await client.get_i2i_project(uuid)
        assert project.number_of_images == 2
        message = await client.start_i2i_editing(
            uuid, I2IEditOptions(perspective_correction=True, sky_replacement=True)
        )
        assert uuid in message.message
        done = await client.wait_for_i2i_completion(uuid, poll_interval=0.05, max_wait_time=30)
        assert done.status == "Completed"
        files = await client.download_files(
            await client.get_i2i_download_links(uuid), tmp_path / "out"
        )
    assert sorted(Path(f).name for f in files) == ["big.jpg", "small.jpg"]
    for path in files:
        data = Path(path).read_bytes()
        assert b"http://ns.adobe.com/xap/1.0/\x00" in data
        with Image.open(io.BytesIO(data)) as image:
            image.load()
