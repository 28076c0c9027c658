"""Client and transfer engine end to end against the offline emulator.

The emulator runs with a header-recording middleware in front, so the tests
can see on the wire that the API key only ever goes to ``/v1`` and that
storage PUTs carry an exact length and the empty signed Content-Type.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from bridge.emulator.app import EmulatorConfig, create_app
from bridge.emulator.faults import FaultConfig
from bridge.imagen import (
    EditOptions,
    I2IEditOptions,
    ImagenAuthError,
    ImagenClient,
    wait_until_done,
)
from bridge.transfer import RetryPolicy, Transfer, md5_base64, plan_parts
from tests.imagen.conftest import SECRET_KEY

FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)
MiB = 2**20


@dataclass
class Recorded:
    method: str
    path: str
    headers: CIMultiDict[str]


@dataclass
class Wire:
    base_url: str = ""
    seen: list[Recorded] = field(default_factory=list)

    def storage(self) -> list[Recorded]:
        return [r for r in self.seen if r.path.startswith("/storage/")]

    def api(self) -> list[Recorded]:
        return [r for r in self.seen if r.path.startswith("/v1/")]


Start = Callable[..., Awaitable[Wire]]


@pytest.fixture
async def start_emulator(
    aiohttp_server: Callable[[web.Application], Awaitable[Any]],
) -> AsyncIterator[Start]:
    """``await start_emulator(**EmulatorConfig fields)`` -> its recorded wire."""

    async def start(**config: Any) -> Wire:
        wire = Wire()

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            wire.seen.append(Recorded(request.method, request.path, CIMultiDict(request.headers)))
            return await handler(request)

        app = create_app(EmulatorConfig(**config))
        app.middlewares.insert(0, record)  # outermost: sees even requests faults answer
        server = await aiohttp_server(app)
        wire.base_url = str(server.make_url("/v1"))
        return wire

    yield start


def check_wire(wire: Wire) -> None:
    """The API key goes to the API only; storage PUTs are exact-length with empty Content-Type."""
    assert wire.storage(), "no storage traffic recorded"
    for request in wire.storage():
        assert "x-api-key" not in request.headers, request.path
        if request.method == "PUT":
            assert int(request.headers["Content-Length"]) >= 0
            assert "Transfer-Encoding" not in request.headers
            assert request.headers.get("Content-Type", "") == ""
    assert all(r.headers.get("x-api-key") == SECRET_KEY for r in wire.api())


def make_photos(folder: Path, names: list[str], size: int = 200_000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


@pytest.mark.parametrize(("envelope", "status_case"), [("data", "upper"), ("bare", "lower")])
async def test_classic_edit_and_export_round_trip(
    start_emulator: Start, tmp_path: Path, envelope: str, status_case: str
) -> None:
    wire = await start_emulator(
        envelope=envelope, status_case=status_case, faults=FaultConfig(processing_s=0.2)
    )
    photos = make_photos(tmp_path / "in", ["Hochzeit Müller 01.NEF", "東京 02.NEF", "IMG 03.NEF"])
    out = tmp_path / "out"
    async with (
        ImagenClient(wire.base_url, SECRET_KEY, retry_policy=FAST_RETRY) as api,
        Transfer(retry=FAST_RETRY) as transfer,
    ):
        profiles = await api.profiles()
        raw = next(p for p in profiles if p.image_type == "RAW")
        assert (await api.sky_templates())[0].id >= 1
        uuid = await api.create_project(f"client-test-{envelope}")
        assert await api.project_uuid(f"client-test-{envelope}") == uuid
        assert (await api.get_project(uuid)).project_uuid == uuid
        assert uuid in [p.project_uuid for p in (await api.list_projects()).projects]

        md5s = {p.name: md5_base64(p) for p in photos}
        links = await api.upload_links(uuid, list(md5s.items()))
        by_name = {p.name: p for p in photos}
        await asyncio.gather(
            *(
                transfer.put_file(
                    by_name[link.file_name], link.url, name=link.file_name,
                    content_md5=md5s[link.file_name],
                )
                for link in links
            )
        )  # fmt: skip
        await api.start_edit(
            uuid,
            raw.profile_key,
            photography_type="WEDDING",
            options=EditOptions(crop=True, straighten=True, subject_mask=True),
        )
        seen: list[str] = []
        done = await wait_until_done(
            lambda: api.edit_status(uuid), timeout=30, initial=0.05,
            on_status=lambda s: seen.append(s.status),
        )  # fmt: skip
        assert done.is_completed
        assert seen[-1] == {"upper": "COMPLETED", "lower": "completed"}[status_case]

        outputs = await api.edit_download_links(uuid)
        assert sorted(link.file_name for link in outputs) == sorted(
            f"{Path(p.name).stem}.xmp" for p in photos
        )
        saved = [await transfer.download(o.url, out, o.file_name) for o in outputs]
        assert all(path.parent == out.resolve() and path.stat().st_size > 0 for path in saved)

        await api.start_export(uuid)
        exported = await wait_until_done(lambda: api.export_status(uuid), timeout=30, initial=0.05)
        assert exported.is_completed
        jpegs = await api.export_download_links(uuid)
        for link in jpegs:
            path = await transfer.download(link.url, out / "export", link.file_name)
            assert path.read_bytes()[:2] == b"\xff\xd8"
    check_wire(wire)
    [edit] = [r for r in wire.api() if r.path.endswith("/edit") and r.method == "POST"]
    assert edit.headers.getall("Content-Type") == [""]
    assert all("Content-MD5" in r.headers for r in wire.storage() if r.method == "PUT")


async def test_smart_editing_with_a_multipart_upload(start_emulator: Start, tmp_path: Path) -> None:
    wire = await start_emulator(envelope="data", faults=FaultConfig(processing_s=0.2))
    small = make_photos(tmp_path / "in", [f"house {n}.jpg" for n in range(4)])
    [big] = make_photos(tmp_path / "in", ["pano 東京.jpg"], size=11 * MiB + 7)
    async with (
        ImagenClient(wire.base_url, SECRET_KEY, retry_policy=FAST_RETRY) as api,
        Transfer(retry=FAST_RETRY, concurrency=4) as transfer,
    ):
        uuid = await api.i2i_create_project()
        links = await api.i2i_upload_links(uuid, [(p.name, None) for p in small])
        by_name = {p.name: p for p in small}
        for link in links:
            await transfer.put_file(by_name[link.file_name], link.url, name=link.file_name)

        part_size, count = plan_parts(big.stat().st_size, preferred=5 * MiB)
        assert count == 3
        upload = await api.i2i_multipart_create(uuid, big.name, count)
        await transfer.put_multipart(big, upload.part_urls(), part_size, name=big.name)
        await api.i2i_multipart_complete(uuid, upload.upload_id, big.name)

        await api.i2i_edit(uuid, I2IEditOptions(perspective_correction=True))
        done = await wait_until_done(lambda: api.i2i_status(uuid), timeout=30, initial=0.05)
        assert done.is_completed
        outputs = await api.i2i_download_links(uuid)
        assert len(outputs) == 5
        for link in outputs:
            path = await transfer.download(link.url, tmp_path / "out", link.file_name)
            assert path.read_bytes()[:2] == b"\xff\xd8"
    check_wire(wire)
    parts = [r for r in wire.storage() if r.method == "PUT" and "pano" in r.path]
    lengths = sorted(int(r.headers["Content-Length"]) for r in parts)
    assert lengths == [MiB + 7, 5 * MiB, 5 * MiB]


async def test_links_that_expire_during_an_upload_are_refreshed(
    start_emulator: Start, tmp_path: Path
) -> None:
    # Links live 1-2 s (S3 counts whole seconds); the second file's turn comes after that.
    wire = await start_emulator(faults=FaultConfig(link_lifetime_s=1))
    first, second = make_photos(tmp_path / "in", ["IMG_1.NEF", "IMG_2.NEF"], size=10_000)
    refreshed: list[str] = []
    async with (
        ImagenClient(wire.base_url, SECRET_KEY, retry_policy=FAST_RETRY) as api,
        Transfer(retry=FAST_RETRY) as transfer,
    ):
        uuid = await api.create_project()
        links = {
            link.file_name: link.url
            for link in await api.upload_links(uuid, [(first.name, None), (second.name, None)])
        }

        def refresher(name: str) -> Callable[[], Awaitable[str]]:
            async def refresh() -> str:
                refreshed.append(name)
                [fresh] = await api.upload_links(uuid, [(name, None)])
                return fresh.url

            return refresh

        await transfer.put_file(
            first, links[first.name], name=first.name, refresh=refresher(first.name)
        )
        await asyncio.sleep(2.05)
        await transfer.put_file(
            second, links[second.name], name=second.name, refresh=refresher(second.name)
        )
        assert refreshed[-1] == second.name  # (the first may expire too on a very slow machine)
        assert (await api.get_project(uuid)).number_of_images == 2
    expired = [r for r in wire.storage() if second.name in r.path]
    assert len(expired) == 2  # the expired try, then the refreshed one
    check_wire(wire)


async def test_the_whole_flow_survives_throttling_and_dropped_connections(
    start_emulator: Start, tmp_path: Path
) -> None:
    wire = await start_emulator(
        faults=FaultConfig(
            seed=7,
            rate_429=0.15,
            retry_after_s=0,
            drop_upload_rate=0.25,
            drop_download_rate=0.25,
            processing_s=0.1,
        )
    )
    # The seed fixes the faults met; the odds are safe for any seed all the same:
    # a try fails with p <= 0.37, twelve tries in a row with p < 1e-5.
    patient = RetryPolicy(attempts=12, base_delay=0.01, max_delay=0.05)
    photos = make_photos(tmp_path / "in", [f"IMG_{n}.CR3" for n in range(5)], size=600_000)
    async with (
        ImagenClient(wire.base_url, SECRET_KEY, retry_policy=patient) as api,
        Transfer(retry=patient) as transfer,
    ):
        uuid = await api.create_project()
        links = await api.upload_links(uuid, [(p.name, None) for p in photos])
        by_name = {p.name: p for p in photos}
        await asyncio.gather(
            *(transfer.put_file(by_name[k.file_name], k.url, name=k.file_name) for k in links)
        )
        await api.start_edit(uuid, 5700)
        assert (await wait_until_done(lambda: api.edit_status(uuid), timeout=30)).is_completed
        outputs = await api.edit_download_links(uuid)
        saved = await asyncio.gather(
            *(transfer.download(o.url, tmp_path / "out", o.file_name) for o in outputs)
        )
    assert len(saved) == 5
    statuses = [r for r in wire.seen if r.path.startswith("/storage/")]
    assert len(statuses) > 10  # drops and 429s forced repeats
    check_wire(wire)


async def test_a_wrong_key_is_reported_with_its_source(start_emulator: Start) -> None:
    wire = await start_emulator(api_key="the-right-key")
    async with ImagenClient(
        wire.base_url, SECRET_KEY, key_source="the config file /home/me/config.toml"
    ) as api:
        with pytest.raises(ImagenAuthError) as caught:
            await api.profiles()
    message = str(caught.value)
    assert "the config file /home/me/config.toml" in message
    assert "Invalid API key" in message
    assert SECRET_KEY not in message
    assert len(wire.api()) == 1
