"""The edit runner against the real emulator over loopback sockets."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp import web

from bridge.imagen import EditOptions, I2IEditOptions, ImagenAuthError, ImagenClient
from bridge.jobs.checkpoint import Checkpoint
from bridge.jobs.events import (
    FileBytes,
    PhotoFinished,
    PhotoStatus,
    ProjectPhase,
    RunEvent,
)
from bridge.jobs.plan import Photo, plan_edit
from bridge.jobs.runner import EditRequest, _Landing, run_edit
from bridge.xmp.packet import parse_xmp
from tests.jobs.helpers import edit, files_under, jpeg_bytes, make_photos

QUICK = {"processing_s": 0.2}


async def test_classic_edit_downloads_one_output_per_photo(emulator_factory, tmp_path: Path):
    emulator = await emulator_factory(faults=_faults(**QUICK))
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2", "IMG_2.nef", "Müller 婚礼 🎉.ARW"])
    photos += make_photos(tmp_path / "shoot", ["scan.dng"])
    events: list[RunEvent] = []
    out = tmp_path / "out"

    result = await edit(emulator, photos, out, on_event=events.append)

    assert result.ok and result.projects == 1
    assert sorted(files_under(out)) == [
        "IMG_1.xmp",
        "IMG_2.xmp",
        "Müller 婚礼 🎉.xmp",
        "scan.dng",
    ]
    by_name = {r.photo.name: r for r in result.photos}
    assert by_name["IMG_1.CR2"].outputs == (out / "IMG_1.xmp",)
    assert by_name["scan.dng"].outputs == (out / "scan.dng",)
    packet = parse_xmp((out / "IMG_1.xmp").read_bytes())
    assert packet is not None
    assert b"http://ns.adobe.com/camera-raw-settings/1.0/" in (out / "IMG_1.xmp").read_bytes()
    assert (out / "scan.dng").read_bytes()[:4] in (b"II*\x00", b"MM\x00*")

    phases = [e.phase for e in events if isinstance(e, ProjectPhase)]
    assert phases == ["create", "upload", "edit", "download", "done"]
    uploads = {e.name: e for e in events if isinstance(e, FileBytes) and e.direction == "upload"}
    assert {name: (e.done, e.total) for name, e in uploads.items()} == {
        p.name: (p.stat().st_size, p.stat().st_size) for p in photos
    }
    finished = [e.result.photo.path for e in events if isinstance(e, PhotoFinished)]
    assert sorted(finished) == sorted(photos)


async def test_same_names_from_two_folders_land_in_two_projects(emulator_factory, tmp_path: Path):
    emulator = await emulator_factory(faults=_faults(**QUICK))
    first = make_photos(tmp_path / "day1", ["IMG_1.CR2", "IMG_2.CR2"])
    second = make_photos(tmp_path / "day2", ["IMG_1.CR2"])
    out = tmp_path / "out"

    result = await edit(emulator, [*first, *second], out)

    assert result.ok and result.projects == 2
    assert sorted(files_under(out)) == [
        "project-1/IMG_1.xmp",
        "project-1/IMG_2.xmp",
        "project-2/IMG_1.xmp",
    ]
    by_path = {r.photo.path: r for r in result.photos}
    assert by_path[first[0]].outputs == (out / "project-1" / "IMG_1.xmp",)
    assert by_path[second[0]].outputs == (out / "project-2" / "IMG_1.xmp",)
    # each output belongs to its own photo: the same photo edited alone gives the same sidecar
    alone = await edit(emulator, [second[0]], tmp_path / "alone")
    assert alone.photos[0].outputs[0].read_bytes() == by_path[second[0]].outputs[0].read_bytes()
    assert (out / "project-1" / "IMG_1.xmp").read_bytes() != (
        out / "project-2" / "IMG_1.xmp"
    ).read_bytes()


@pytest.mark.parametrize("send_md5", [False, True])
async def test_md5_is_sent_only_when_asked_and_storage_checks_it(
    emulator_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, send_md5: bool
):
    """With ``send_md5`` the links are signed for the file's MD5 and storage verifies the bytes:
    a digest that does not match the body is refused, so that photo fails, nothing else."""
    emulator = await emulator_factory(faults=_faults(**QUICK))
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2", "IMG_2.CR2"])
    from bridge.jobs import runner

    real_md5 = runner.md5_base64
    wrong = real_md5(photos[0])  # IMG_2 announces IMG_1's digest

    def md5_base64(path: Path) -> str:
        return wrong if path.name == "IMG_2.CR2" else real_md5(path)

    monkeypatch.setattr(runner, "md5_base64", md5_base64)

    result = await edit(emulator, photos, tmp_path / "out", send_md5=send_md5)

    statuses = {r.photo.name: r.status for r in result.photos}
    assert statuses["IMG_1.CR2"] is PhotoStatus.EDITED
    assert statuses["IMG_2.CR2"] is (PhotoStatus.FAILED if send_md5 else PhotoStatus.EDITED)


async def test_a_conflict_on_a_repeated_create_looks_the_project_up(aiohttp_server, tmp_path: Path):
    """The first create reached Imagen but its answer was lost (503) and the project was not
    listed yet; the repeat meets 409 Conflict. The run goes on with the project it made."""
    created: dict[str, str] = {}
    lookups: list[str] = []

    async def create(request: web.Request) -> web.Response:
        name = (await request.json())["name"]
        if name in created:
            return web.json_response({"detail": f"Project {name!r} already exists."}, status=409)
        created[name] = "made-by-try-1"
        return web.json_response({"detail": "Service Unavailable"}, status=503)

    async def lookup(request: web.Request) -> web.Response:
        lookups.append(request.match_info["name"])
        if len(lookups) == 1:
            return web.json_response({"detail": "Project not found."}, status=404)
        return web.json_response({"project_uuid": created[request.match_info["name"]]})

    async def links(request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        return web.json_response({"detail": f"no links for {uuid} today"}, status=400)

    app = web.Application()
    app.router.add_post("/v1/projects/", create)
    app.router.add_get("/v1/projects/{name}/uuid", lookup)
    app.router.add_post("/v1/projects/{uuid}/get_temporary_upload_links", links)
    server = await aiohttp_server(app)
    plan = plan_edit(make_photos(tmp_path, ["a.CR2"]))
    async with ImagenClient(str(server.make_url("/v1")), "test-key") as client:
        request = EditRequest(plan=plan, out_dir=tmp_path / "out", profile_key=5700)
        result = await run_edit(client, request)

    assert len(created) == 1 and len(lookups) == 2
    (photo,) = result.photos
    assert photo.status is PhotoStatus.FAILED
    assert photo.error is not None and "no links for made-by-try-1 today" in photo.error


@pytest.mark.parametrize("send_md5", [False, True])
async def test_a_file_gone_after_planning_fails_alone(
    emulator_factory, tmp_path: Path, send_md5: bool
):
    emulator = await emulator_factory(faults=_faults(**QUICK))
    photos = make_photos(tmp_path / "shoot", ["IMG_1.CR2", "IMG_2.CR2"])
    plan = plan_edit(photos)
    photos[1].unlink()
    request = EditRequest(plan=plan, out_dir=tmp_path / "out", profile_key=5700, send_md5=send_md5)
    async with ImagenClient(emulator.base_url, "test-key") as client:
        result = await run_edit(client, request)

    first, gone = result.photos
    assert first.status is PhotoStatus.EDITED
    assert gone.status is PhotoStatus.FAILED
    assert gone.error is not None and "upload failed" in gone.error
    assert sorted(files_under(tmp_path / "out")) == ["IMG_1.xmp"]


async def test_failed_files_are_reported_per_photo(emulator_factory, tmp_path: Path):
    emulator = await emulator_factory(faults=_faults(fail_files=frozenset({"IMG_2.CR2"}), **QUICK))
    photos = make_photos(tmp_path, ["IMG_1.CR2", "IMG_2.CR2", "IMG_3.CR2"])

    result = await edit(emulator, photos, tmp_path / "out")

    assert not result.ok
    statuses = {r.photo.name: (r.status, r.error) for r in result.photos}
    assert statuses["IMG_1.CR2"] == (PhotoStatus.EDITED, None)
    assert statuses["IMG_3.CR2"][0] is PhotoStatus.EDITED
    status, error = statuses["IMG_2.CR2"]
    assert status is PhotoStatus.FAILED
    assert error is not None and "no output" in error and "IMG_2.CR2" in error
    assert sorted(files_under(tmp_path / "out")) == ["IMG_1.xmp", "IMG_3.xmp"]


async def test_a_project_where_every_file_failed(emulator_factory, tmp_path: Path):
    names = ["a.CR2", "b.CR2"]
    emulator = await emulator_factory(faults=_faults(fail_files=frozenset(names), **QUICK))
    result = await edit(emulator, make_photos(tmp_path, names), tmp_path / "out")
    assert [r.status for r in result.photos] == [PhotoStatus.FAILED] * 2
    assert all("reported the edit as failed" in (r.error or "") for r in result.photos)
    assert not (tmp_path / "out").exists()


async def test_jpeg_profile_and_export(emulator_factory, tmp_path: Path):
    emulator = await emulator_factory(faults=_faults(**QUICK))
    photos = make_photos(tmp_path / "in", ["a.jpg", "b.JPEG"])
    out = tmp_path / "out"

    result = await edit(emulator, photos, out, profile_key=5702, export=True)

    assert result.ok
    assert sorted(files_under(out)) == ["a.jpg", "b.JPEG", "exports/a.jpg", "exports/b.JPEG"]
    for r in result.photos:
        assert r.outputs[0].read_bytes()[:2] == b"\xff\xd8"
        assert b"camera-raw-settings" in r.outputs[0].read_bytes()
        assert r.exports[0].parent == out / "exports"


async def test_hdr_brackets_share_their_merged_output(emulator_factory, tmp_path: Path):
    emulator = await emulator_factory(faults=_faults(**QUICK), hdr_bracket_size=3)
    photos = make_photos(tmp_path / "brackets", [f"IMG_{n}.CR2" for n in range(1, 7)])
    out = tmp_path / "out"

    result = await edit(
        emulator, photos, out, options=EditOptions(hdr_merge=True), keep_folders_together=True
    )

    assert result.ok
    assert sorted(files_under(out)) == ["IMG_1_HDR.dng", "IMG_4_HDR.dng"]
    outputs = {r.photo.name: [p.name for p in r.outputs] for r in result.photos}
    assert outputs == {
        **{f"IMG_{n}.CR2": ["IMG_1_HDR.dng"] for n in (1, 2, 3)},
        **{f"IMG_{n}.CR2": ["IMG_4_HDR.dng"] for n in (4, 5, 6)},
    }


async def test_wrong_key_stops_the_run_with_an_auth_error(emulator_factory, tmp_path: Path):
    emulator = await emulator_factory(api_key="right-key", faults=_faults(**QUICK))
    photos = make_photos(tmp_path, ["a.CR2"])
    with pytest.raises(ImagenAuthError):
        await edit(emulator, photos, tmp_path / "out", api_key="wrong-key")


async def test_forty_files_under_faults_all_arrive_intact(
    emulator_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """10% 503s, 5% dropped connections, 2 s links, latency: same bytes as a clean run."""
    names = [f"DSC_{n:04d}.NEF" for n in range(40)]
    photos = make_photos(tmp_path / "shoot", names, size=120_000)
    clean = await emulator_factory(faults=_faults(**QUICK))
    reference = await edit(clean, photos, tmp_path / "reference")
    assert reference.ok

    faulty = await emulator_factory(
        faults=_faults(
            seed=7,
            rate_503=0.10,
            drop_upload_rate=0.05,
            drop_download_rate=0.05,
            link_lifetime_s=2.0,
            latency_ms=30,
            processing_s=0.5,
        )
    )
    logger = logging.getLogger("bridge.test.faults")
    with caplog.at_level(logging.WARNING):
        result = await edit(faulty, photos, tmp_path / "out", logger=logger)

    assert result.ok, [r.error for r in result.photos if r.error]
    assert files_under(tmp_path / "out") == files_under(tmp_path / "reference")
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("503" in m or "Service temporarily unavailable" in m for m in retries), retries
    assert any("retrying" in m or "fresh link" in m for m in retries)


async def test_cancelling_leaves_no_partial_files(emulator_factory, tmp_path: Path):
    """Cancel as the first output starts downloading: no temp or half files remain."""
    emulator = await emulator_factory(faults=_faults(latency_ms=50, **QUICK))
    photos = make_photos(tmp_path / "in", [f"IMG_{n}.CR2" for n in range(6)])
    out = tmp_path / "out"
    plan = plan_edit(photos)
    task: asyncio.Task[object] | None = None
    seen: list[FileBytes] = []

    def on_event(event: RunEvent) -> None:
        if isinstance(event, FileBytes) and event.direction == "download" and task is not None:
            seen.append(event)
            task.cancel()

    async with ImagenClient(emulator.base_url, "k") as client:
        task = asyncio.ensure_future(
            run_edit(
                client, EditRequest(plan=plan, out_dir=out, profile_key=5700), on_event=on_event
            )
        )
        with pytest.raises(asyncio.CancelledError):
            await task
    assert seen, "the run was cancelled while downloading"
    left = files_under(out)
    assert not [name for name in left if Path(name).name.startswith(".")]
    await edit(emulator, photos, tmp_path / "reference")
    expected = files_under(tmp_path / "reference")
    for name, data in left.items():  # whatever got published is complete
        assert expected[name] == data


def _faults(**fields: object):
    from bridge.emulator.faults import FaultConfig

    return FaultConfig(**fields)  # type: ignore[arg-type]


async def test_smart_editing_returns_a_jpeg_per_photo(emulator_factory, tmp_path: Path):
    emulator = await emulator_factory(faults=_faults(**QUICK))
    photos = make_photos(tmp_path / "in", ["a.jpg", "b.jpg", "Café 1.jpeg"])
    out = tmp_path / "out"

    result = await edit(emulator, photos, out, i2i=I2IEditOptions(sky_replacement=True))

    assert result.ok
    assert sorted(files_under(out)) == ["Café 1.jpeg", "a.jpg", "b.jpg"]
    assert all(r.outputs[0].read_bytes()[:2] == b"\xff\xd8" for r in result.photos)


def big_sparse_jpeg(path: Path, size: int, seed: str) -> Path:
    """A ``size``-byte file made in milliseconds: a distinct head, then a hole read as zeros."""
    with path.open("wb") as handle:
        handle.write(jpeg_bytes(seed, 4096)[:-2])
        handle.truncate(size)
    return path


@pytest.mark.slow
async def test_smart_editing_two_600_mb_files_under_faults(
    emulator_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """Multipart uploads of 2 x 600 MB survive 503s, drops and 2 s links; outputs match."""
    size = 600 * 10**6
    photos = [big_sparse_jpeg(tmp_path / f"pano {n}.jpg", size, f"pano {n}") for n in (1, 2)]
    faulty = await emulator_factory(
        faults=_faults(
            seed=3,
            rate_503=0.10,
            drop_upload_rate=0.05,
            drop_download_rate=0.05,
            link_lifetime_s=2.0,
            latency_ms=20,
            processing_s=0.5,
        )
    )
    with caplog.at_level(logging.WARNING):
        result = await edit(
            faulty, photos, tmp_path / "out", i2i=I2IEditOptions(), logger=logging.getLogger("t")
        )
    assert result.ok, [r.error for r in result.photos]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings, "the faults caused retries, and each was logged"

    clean = await emulator_factory(faults=_faults(**QUICK))
    await edit(clean, photos, tmp_path / "reference", i2i=I2IEditOptions())
    assert files_under(tmp_path / "out") == files_under(tmp_path / "reference")


async def test_cancelling_a_multipart_upload_aborts_it(emulator_factory, tmp_path: Path):
    """Cancelled mid-upload: the multipart upload is aborted and no output folder appears."""
    storage = tmp_path / "storage"
    emulator = await emulator_factory(storage_dir=storage, faults=_faults(latency_ms=20, **QUICK))
    photos = [big_sparse_jpeg(tmp_path / f"big{n}.jpg", 70 * 2**20, str(n)) for n in (1, 2)]
    plan = plan_edit(photos)
    task: asyncio.Task[object] | None = None

    def on_event(event: RunEvent) -> None:
        if isinstance(event, FileBytes) and event.done > 20 * 2**20 and task is not None:
            task.cancel()

    async with ImagenClient(emulator.base_url, "k") as client:
        request = EditRequest(plan=plan, out_dir=tmp_path / "out", i2i=I2IEditOptions())
        task = asyncio.ensure_future(run_edit(client, request, on_event=on_event))
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not (tmp_path / "out").exists()
    # the store keeps open multipart uploads' parts in storage/multipart/<upload id>/
    assert list((storage / "multipart").iterdir()) == []


async def test_a_wave_of_expired_download_links_is_fetched_once() -> None:
    """Links expire together; every download that hit one shares a single fresh list."""
    from bridge.imagen.models import FileLink
    from bridge.jobs.runner import _LinkList

    fetches = 0

    async def fetch() -> list[FileLink]:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.01)  # let the other refreshes queue up behind this one
        return [FileLink(file_name=f"IMG_{n}.xmp", url=f"v{fetches + 1}/{n}") for n in range(10)]

    links = _LinkList(fetch, [FileLink(file_name=f"IMG_{n}.xmp", url=f"v1/{n}") for n in range(10)])
    urls = await asyncio.gather(
        *(links.fresh_url(f"IMG_{n}.xmp", expired=f"v1/{n}") for n in range(10))
    )
    assert urls == [f"v2/{n}" for n in range(10)] and fetches == 1
    assert await links.fresh_url("IMG_3.xmp", expired="v2/3") == "v3/3" and fetches == 2
    with pytest.raises(RuntimeError, match=r"no longer lists IMG_99\.xmp"):
        await links.fresh_url("IMG_99.xmp", expired="v1/99")


class Marks(Checkpoint):
    """Notes the landing hooks the runner calls."""

    def __init__(self, in_flight: frozenset[Path] = frozenset()) -> None:
        self.calls: list[str] = []
        self._in_flight = in_flight

    async def landing(self, photo: Photo) -> None:
        self.calls.append("landing")

    def not_landed(self, photo: Photo) -> None:
        self.calls.append("not_landed")

    async def uploaded(self, photo: Photo) -> None:
        self.calls.append("uploaded")

    def in_flight(self) -> frozenset[Path]:
        return self._in_flight


@pytest.mark.parametrize(
    ("earlier", "then", "expected"),
    [
        ([], [False], ["landing", "not_landed"]),
        ([], [True], ["landing", "uploaded"]),
        # a try whose fate is open, then a refused one: the first may be on Imagen still
        ([], [None, False], ["landing", "landing"]),
        ([], [None, True], ["landing", "landing", "uploaded"]),
        # a stopped run left the mark: a refusal now says nothing of that run's try
        (["flying"], [False], ["landing"]),
    ],
)
async def test_only_a_stored_answer_clears_a_mark_once_a_try_may_have_landed(
    tmp_path: Path, earlier: list[str], then: list[bool | None], expected: list[str]
) -> None:
    [path] = make_photos(tmp_path, ["IMG_1.CR2"])
    photo = plan_edit([path]).projects[0].photos[0]
    marks = Marks(frozenset([photo.path]) if earlier else frozenset())
    lock = asyncio.Lock()
    landing = _Landing(lock, marks, photo)
    for stored in then:
        await landing.landing()
        assert lock.locked()  # no other file of the project lands meanwhile
        await landing.landed(stored)
        assert not lock.locked()
    assert marks.calls == expected


@pytest.mark.parametrize(("earlier", "expected"), [([], ["not_landed"]), (["flying"], [])])
async def test_a_mark_canceled_mid_write_is_undone_unless_an_earlier_try_is_open(
    tmp_path: Path, earlier: list[str], expected: list[str]
) -> None:
    [path] = make_photos(tmp_path, ["IMG_1.CR2"])
    photo = plan_edit([path]).projects[0].photos[0]

    class Stopped(Marks):
        async def landing(self, photo: Photo) -> None:
            raise asyncio.CancelledError  # the write may still commit after this

    marks = Stopped(frozenset([photo.path]) if earlier else frozenset())
    lock = asyncio.Lock()
    with pytest.raises(asyncio.CancelledError):
        await _Landing(lock, marks, photo).landing()
    assert not lock.locked()
    assert marks.calls == expected
