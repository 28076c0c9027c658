"""Job timing (Pending -> In Progress -> Completed/Failed on a monotonic clock) and fail_files."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bridge.emulator.app import EmulatorConfig, RunningEmulator, running_emulator
from bridge.emulator.faults import FaultConfig
from tests.conftest import EmulatorFactory
from tests.emulator.support import api, edit, jpeg_bytes, new_project, unwrap, wait_status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def timed() -> AsyncIterator[tuple[RunningEmulator, FakeClock]]:
    clock = FakeClock()
    config = EmulatorConfig(faults=FaultConfig(processing_s=10))
    async with running_emulator(config, clock=clock) as emulator:
        yield emulator, clock


async def test_edit_and_export_progress_with_the_clock(
    timed: tuple[RunningEmulator, FakeClock],
) -> None:
    emulator, clock = timed
    async with api(emulator) as client:
        uuid = await new_project(client, {"IMG_1.NEF": b"a", "IMG_2.NEF": b"b"})
        await client.post(f"/projects/{uuid}/edit", json={"profile_key": 5700})
        seen = []
        for elapsed in (0, 0.5, 3, 7.5, 9.9, 10):
            clock.now = 1000.0 + elapsed
            body = unwrap((await client.get(f"/projects/{uuid}/edit/status")).json())
            seen.append((body["status"], body["progress"]))
        assert seen == [
            ("Pending", 0.0),
            ("Pending", 0.0),
            ("In Progress", 30.0),
            ("In Progress", 75.0),
            ("In Progress", 99.0),
            ("Completed", 100.0),
        ]
        await client.post(f"/projects/{uuid}/export")
        status = unwrap((await client.get(f"/projects/{uuid}/export/status")).json())
        assert status["status"] == "Pending"
        clock.now += 10
        status = unwrap((await client.get(f"/projects/{uuid}/export/status")).json())
        assert status == {"status": "Completed", "progress": 100.0}


async def test_export_flag_runs_export_after_edit(
    timed: tuple[RunningEmulator, FakeClock],
) -> None:
    emulator, clock = timed
    async with api(emulator) as client:
        uuid = await new_project(client, {"IMG_1.NEF": b"a"})
        await client.post(f"/projects/{uuid}/edit", json={"profile_key": 5700, "export": True})
        clock.now += 10
        status = unwrap((await client.get(f"/projects/{uuid}/export/status")).json())
        assert status["status"] == "Pending"  # the export starts when the edit ends
        clock.now += 10
        links = unwrap(
            (await client.get(f"/projects/{uuid}/export/get_temporary_download_links")).json()
        )
        assert [entry["file_name"] for entry in links["files_list"]] == ["IMG_1.jpg"]


async def test_smart_editing_status_and_link_polling(
    timed: tuple[RunningEmulator, FakeClock],
) -> None:
    emulator, clock = timed
    async with api(emulator) as client:
        uuid = await new_project(client, {"a.jpg": jpeg_bytes(1)}, family="i2i")
        project = unwrap((await client.get(f"/i2i/projects/{uuid}")).json())
        assert project["status"] == "Pending" and project["number_of_images"] == 1
        await client.post(f"/i2i/projects/{uuid}/edit", json={})
        clock.now += 5
        project = unwrap((await client.get(f"/i2i/projects/{uuid}")).json())
        assert project["status"] == "In Progress"
        # The documented alternative to polling the status: links stay empty until done.
        links = (await client.get(f"/i2i/projects/{uuid}/get_temporary_download_links")).json()
        assert links == {"files_list": []}
        clock.now += 5
        project = unwrap((await client.get(f"/i2i/projects/{uuid}")).json())
        assert project["status"] == "Completed"
        links = (await client.get(f"/i2i/projects/{uuid}/get_temporary_download_links")).json()
        assert [entry["file_name"] for entry in links["files_list"]] == ["a.jpg"]


async def test_fail_files_are_named_and_left_out(emulator_factory: EmulatorFactory) -> None:
    faults = FaultConfig(processing_s=0, fail_files=frozenset({"IMG_2.NEF", "IMG_3.NEF"}))
    emulator = await emulator_factory(faults=faults)
    async with api(emulator) as client:
        uuid = await new_project(client, {"IMG_1.NEF": b"1", "IMG_2.NEF": b"2", "IMG_4.NEF": b"4"})
        status, links = await edit(client, uuid, {"profile_key": 5700})
        assert status["status"] == "Completed"
        assert "IMG_2.NEF" in status["details"] and "1 of 3" in status["details"]
        assert sorted(links) == ["IMG_1.xmp", "IMG_4.xmp"]

        all_bad = await new_project(client, {"IMG_2.NEF": b"2", "IMG_3.NEF": b"3"})
        status, links = await edit(client, all_bad, {"profile_key": 5700})
        assert status["status"] == "Failed" and links == {}
        assert "IMG_2.NEF" in status["details"] and "IMG_3.NEF" in status["details"]
        response = await client.post(f"/projects/{all_bad}/export")
        assert response.status_code == 400 and "Failed" in response.json()["error"]["message"]


async def test_a_jpeg_that_is_not_a_jpeg_fails_alone(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0))
    async with api(emulator) as client:
        uuid = await new_project(client, {"good.jpg": jpeg_bytes(), "fake.jpg": b"not a jpeg"})
        status, links = await edit(client, uuid, {"profile_key": 5702})
    assert status["status"] == "Completed"
    assert "fake.jpg (not a valid JPEG)" in status["details"]
    assert list(links) == ["good.jpg"]


async def test_i2i_fail_files(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(
        faults=FaultConfig(processing_s=0, fail_files=frozenset({"a.jpg"}))
    )
    async with api(emulator) as client:
        uuid = await new_project(client, {"a.jpg": jpeg_bytes(1)}, family="i2i")
        await client.post(f"/i2i/projects/{uuid}/edit", json={})
        assert (await wait_status(client, f"/i2i/projects/{uuid}"))["status"] == "Failed"
        response = await client.get(f"/i2i/projects/{uuid}/get_temporary_download_links")
        assert response.status_code == 400 and "a.jpg" in response.text
