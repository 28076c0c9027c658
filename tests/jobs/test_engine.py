"""The durable job engine against the real emulator over loopback: states, failures per photo,
idempotency, long polls, cancel, retry, applied, and resuming without repeating finished work.

The emulator's access log is the witness of what reached the service.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bridge.emulator.faults import FaultConfig
from bridge.jobs.book import JobBook
from bridge.jobs.engine import JobEngine
from bridge.jobs.errors import JobConflict, JobRequestError
from bridge.jobs.events import ProjectPhase
from bridge.jobs.models import (
    AppliedReport,
    AppliedRequest,
    JobRequest,
    JobSpec,
    JobState,
    JobView,
    PhotoState,
)
from bridge.settings import Settings, load_settings
from bridge.xmp.journal import Journal
from tests.emulator_delivery.support import IMGWIRE_KEY, records
from tests.jobs.helpers import disk_with, make_photos

SAMPLES = ("exifr_IMG_5910_lightroom.xmp", "photoprism_canon_eos_6d.xmp")


def settings_for(emulator: Any, data_dir: Path) -> Settings:
    return load_settings(api_key="test-key", base_url=emulator.base_url, data_dir=data_dir)


async def until(engine: JobBook, job_id: str, done: Any, seconds: float = 60) -> JobView:
    """The job once ``done(view)`` holds (long-polling, never sleeping blindly)."""
    view = await engine.get(job_id)
    async with asyncio.timeout(seconds):
        while not done(view):
            view = await engine.wait(job_id, view.revision, 5)
    return view


def puts(log: Path) -> Counter[str]:
    """Storage PUTs the store accepted, by target (query less signature kept)."""
    counted: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        method, target, status, _ = line.split(" ")
        if method == "PUT" and status == "200" and "/storage/" in target:
            counted[target] += 1
    return counted


def posts(log: Path, suffix: str) -> int:
    return sum(
        1
        for line in log.read_text().splitlines()
        if line.startswith("POST ") and line.split(" ")[1].split("?")[0].endswith(suffix)
    )


def request(paths: list[Path], **fields: Any) -> tuple[JobSpec, list[str], list[str | None]]:
    """A job request as ``POST /v1/jobs`` validates it, split as the engine takes it."""
    photos = [{"path": str(p), "id": f"caller-{i}"} for i, p in enumerate(paths)]
    return JobRequest.model_validate({"photos": photos, "profile_key": 5700, **fields}).split()


async def test_a_job_edits_merges_and_reports_every_photo(
    emulator_factory: Any, tmp_path: Path, shared_dir: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.2))
    shoot = tmp_path / "Hochzeit Müller 婚礼 🌅"
    raws = make_photos(shoot, ["IMG_1.CR2", "IMG_2.NEF", "B.DNG"])
    other = make_photos(tmp_path / "other", ["IMG_1.CR2"])  # the same name in another folder
    jpeg = make_photos(shoot, ["snap.jpg"])
    originals = {}
    for raw, sample in zip(raws[:2], SAMPLES, strict=True):
        sidecar = raw.with_suffix(".xmp")
        sidecar.write_bytes((shared_dir / "data" / "xmp-samples" / sample).read_bytes())
        originals[sidecar] = sidecar.read_bytes()
    missing = tmp_path / "gone" / "IMG_9.CR2"
    paths = [*raws, *other, *jpeg, missing]
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, created = await engine.create(*request(paths, tools={"crop": True}))
        assert created and job.photos_total == 6
        done = await until(engine, job.id, lambda v: v.state.ended)
        photos = (await engine.photos(job.id)).photos

    assert done.state is JobState.DONE
    by_name = {Path(p.path).name + str(Path(p.path).parent.name): p for p in photos}
    states = [p.state for p in photos]
    assert states == [PhotoState.READY] * 4 + [PhotoState.FAILED] * 2
    assert "JPEG file, but the profile" in (photos[4].reason or "")
    assert photos[5].reason == "no such file"
    assert [p.id for p in photos] == [f"caller-{i}" for i in range(6)]
    assert photos[0].sidecar is not None and photos[0].sidecar.status == "updated"
    assert photos[3].sidecar is not None and photos[3].sidecar.status == "created"
    assert photos[2].kind == "DNG" and photos[2].sidecar is None  # its XMP is inside
    for photo in photos[:4]:
        assert photo.develop_settings and "CropTop" in photo.develop_settings
    assert len(by_name) == 6
    assert done.merge_id is not None
    # the photographer's own metadata survived, and undo restores the bytes exactly
    for sidecar, before in originals.items():
        assert sidecar.read_bytes() != before
        assert b"crs:" in sidecar.read_bytes()
    with Journal(tmp_path / "data") as journal:
        report = journal.undo(done.merge_id, now=datetime.now().astimezone())
    assert report.complete
    for sidecar, before in originals.items():
        assert sidecar.read_bytes() == before
    assert not (shoot / "IMG_2.xmp").with_name("B.xmp").exists()


async def test_request_wide_problems_refuse_the_job(emulator_factory: Any, tmp_path: Path) -> None:
    emulator = await emulator_factory()
    photos = make_photos(tmp_path, ["a.CR2"])
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        with pytest.raises(JobRequestError, match="No profile with key 1"):
            await engine.create(*request(photos, profile_key=1))
        with pytest.raises(JobRequestError, match="No photo of this job can be edited"):
            await engine.create(*request([tmp_path / "nope.CR2"]))
        with pytest.raises(JobRequestError, match="straighten or perspective"):
            await engine.create(
                *request(photos, tools={"straighten": True, "perspective_correction": True})
            )
        assert (await engine.list_jobs()).jobs == []


async def test_an_idempotency_key_gives_back_the_same_job(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1))
    photos = make_photos(tmp_path, ["a.CR2", "b.CR2"])
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        first, created = await engine.create(*request(photos), idempotency_key="k-1")
        again, created_again = await engine.create(*request(photos), idempotency_key="k-1")
        assert created and not created_again and again.id == first.id
        with pytest.raises(JobConflict, match="k-1"):
            await engine.create(*request(photos[:1]), idempotency_key="k-1")
        assert len((await engine.list_jobs()).jobs) == 1
        await until(engine, first.id, lambda v: v.state.ended)


async def test_revisions_grow_and_a_long_poll_answers_on_change_or_timeout(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.3))
    photos = make_photos(tmp_path, ["a.CR2", "b.CR2", "c.CR2"])
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request(photos))
        seen = [job.revision]
        view = job
        while not view.state.ended:
            view = await engine.wait(job.id, view.revision, 10)
            seen.append(view.revision)
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        loop = asyncio.get_running_loop()
        started = loop.time()
        unchanged = await engine.wait(job.id, view.revision, 0.3)
        assert unchanged.revision == view.revision and loop.time() - started >= 0.3
        # the photos' revisions never pass the job's
        photos_now = (await engine.photos(job.id, settings=False)).photos
        assert max(p.revision for p in photos_now) <= view.revision


async def test_cancel_stops_the_job_and_cancels_unfinished_photos(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=30, latency_ms=20))
    photos = make_photos(tmp_path, [f"IMG_{n}.CR2" for n in range(4)])
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request(photos))
        await until(engine, job.id, lambda v: v.counts.editing == 4)
        canceled = await engine.cancel(job.id)
        assert canceled.state is JobState.CANCELED
        assert canceled.counts.canceled == 4
        assert (await engine.cancel(job.id)).state is JobState.CANCELED  # again: no change
        with pytest.raises(JobConflict):
            await engine.applied(
                job.id, AppliedRequest(photos=[AppliedReport(index=0, applied=True)])
            )


async def test_retry_runs_failed_photos_again_once_their_files_are_back(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1))
    present = make_photos(tmp_path / "a", ["IMG_1.CR2"])
    later = tmp_path / "card" / "IMG_2.CR2"
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request([*present, later]))
        first = await until(engine, job.id, lambda v: v.state.ended)
        assert first.counts.failed == 1 and first.counts.ready == 1
        with pytest.raises(JobRequestError):
            await engine.retry(job.id, [7])
        make_photos(later.parent, [later.name])  # the card is back
        await engine.retry(job.id)
        second = await until(
            engine, job.id, lambda v: v.state.ended and v.revision > first.revision
        )
        assert second.state is JobState.DONE and second.counts.ready == 2
        photos = (await engine.photos(job.id)).photos
        assert photos[1].state is PhotoState.READY and photos[1].develop_settings
        assert Path(photos[1].outputs[0]).parent.name == "project-2"  # a new project


async def test_applied_reports_are_recorded_per_photo(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1))
    photos = make_photos(tmp_path, ["a.CR2", "b.CR2"])
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request(photos))
        await until(engine, job.id, lambda v: v.state.ended)
        report = AppliedRequest(
            photos=[
                AppliedReport(index=0, applied=True),
                AppliedReport(index=1, applied=False, reason="Lightroom: photo is missing"),
            ]
        )
        answered = (await engine.applied(job.id, report)).photos
        assert [p.state for p in answered] == [PhotoState.APPLIED, PhotoState.READY]
        assert answered[0].applied_at and answered[1].apply_error == "Lightroom: photo is missing"
        view = await engine.get(job.id)
        assert view.counts.applied == 1 and view.counts.ready == 1
        with pytest.raises(JobRequestError):
            await engine.applied(
                job.id, AppliedRequest(photos=[AppliedReport(index=5, applied=True)])
            )


async def test_a_stopped_engine_resumes_without_uploading_or_editing_again(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """Stopped during the edit: the restarted engine polls the edit it started (one
    ``/edit`` call in all), uploads nothing again, and merges each sidecar once."""
    log = tmp_path / "access.log"
    emulator = await emulator_factory(
        faults=FaultConfig(processing_s=1.5, latency_ms=30), access_log=log
    )
    names = [f"IMG_{n}.CR2" for n in range(6)]
    photos = make_photos(tmp_path / "shoot", names)
    settings = settings_for(emulator, tmp_path / "data")
    async with JobEngine.open(settings, resume=False) as engine:
        job, _ = await engine.create(*request(photos))
        await until(engine, job.id, lambda v: v.counts.editing == 6)
        await asyncio.sleep(0.2)  # the edit has been asked for
    assert posts(log, "/edit") == 1
    async with JobBook.open_book(settings) as book:
        assert (await book.get(job.id)).state is JobState.RUNNING
    async with JobEngine.open(settings) as engine:  # resume=True picks it up
        done = await until(engine, job.id, lambda v: v.state.ended)
        photos_after = (await engine.photos(job.id)).photos
    assert done.state is JobState.DONE and done.counts.ready == 6
    uploads = puts(log)
    assert sorted(Path(t.split("?")[0]).name for t in uploads) == sorted(names)
    assert set(uploads.values()) == {1}
    assert posts(log, "/edit") == 1
    assert all(p.sidecar and p.sidecar.status == "created" for p in photos_after)


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "transfer-process"])
async def test_a_file_that_landed_before_a_stop_without_a_record_is_not_sent_again(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolate: bool
) -> None:
    """The store took the first file, and the bridge stopped before it recorded the answer,
    while the next files were in flight. Imagen's count must tell which one landed: no
    file goes up twice."""
    from bridge.jobs.recording import StoreCheckpoint

    real = StoreCheckpoint.uploaded
    stuck = asyncio.Event()
    first: list[str] = []

    async def never_recorded(self: StoreCheckpoint, photo: Any) -> None:
        if not stuck.is_set():
            first.append(photo.name)
            stuck.set()
            await asyncio.Event().wait()  # the bridge dies here
        await real(self, photo)

    log = tmp_path / "access.log"
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.2), access_log=log)
    names = [f"IMG_{n}.CR2" for n in range(6)]
    # big enough (and few connections) that the next files are still going up at the stop
    photos = make_photos(tmp_path / "shoot", names, size=48 * 2**20)
    settings = settings_for(emulator, tmp_path / "data")
    with monkeypatch.context() as patch:
        patch.setattr(StoreCheckpoint, "uploaded", never_recorded)
        async with JobEngine.open(settings, resume=False, isolate=isolate, transfers=2) as engine:
            job, _ = await engine.create(*request(photos))
            async with asyncio.timeout(30):
                await stuck.wait()
            await asyncio.sleep(0.05)
    held = puts(log)
    # one file landed; the others, in flight behind it, could not
    assert [Path(t.split("?")[0]).name for t in held] == first
    async with JobEngine.open(settings, isolate=isolate) as engine:
        done = await until(engine, job.id, lambda v: v.state.ended)
    assert done.state is JobState.DONE and done.counts.ready == len(names), done
    uploads = puts(log)
    assert sorted(Path(t.split("?")[0]).name for t in uploads) == sorted(names)
    assert set(uploads.values()) == {1}, uploads


async def test_a_mark_a_stopped_run_left_is_cleared_once_the_count_says_nothing_landed(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped between a file's mark and its last bytes: Imagen holds none of the files,
    so the next run clears the mark instead of keeping the file in doubt, where it would
    make a later stop's count ambiguous (and a landed file go up twice)."""
    from bridge.jobs.recording import StoreCheckpoint

    real = StoreCheckpoint.landing
    marked = asyncio.Event()

    async def dies_after_the_mark(self: StoreCheckpoint, photo: Any) -> None:
        await real(self, photo)
        marked.set()
        await asyncio.Event().wait()  # the bridge dies before the last bytes go

    log = tmp_path / "access.log"
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.2), access_log=log)
    photos = make_photos(tmp_path / "shoot", [f"IMG_{n}.CR2" for n in range(3)])
    settings = settings_for(emulator, tmp_path / "data")
    with monkeypatch.context() as patch:
        patch.setattr(StoreCheckpoint, "landing", dies_after_the_mark)
        patch.setattr(StoreCheckpoint, "not_landed", lambda self, photo: None)  # killed: no undo
        async with JobEngine.open(settings, resume=False, transfers=1) as engine:
            job, _ = await engine.create(*request(photos))
            async with asyncio.timeout(30):
                await marked.wait()
    assert not puts(log)
    in_doubt: list[bool] = []

    async def notes_doubt(self: StoreCheckpoint, photo: Any) -> None:
        in_doubt.append(photo.path in self.in_flight())
        await real(self, photo)

    with monkeypatch.context() as patch:
        patch.setattr(StoreCheckpoint, "landing", notes_doubt)
        async with JobEngine.open(settings) as engine:
            done = await until(engine, job.id, lambda v: v.state.ended)
    assert done.state is JobState.DONE and in_doubt == [False, False, False]
    assert set(puts(log).values()) == {1} and len(puts(log)) == 3


async def test_a_stopped_multipart_upload_continues_with_the_parts_it_lacks(
    emulator_factory: Any, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    emulator = await emulator_factory(
        faults=FaultConfig(processing_s=0.1, latency_ms=150), access_log=log
    )
    # two files of two parts each, two connections: one file's parts wait for the other's
    bigs = make_photos(tmp_path, ["big 1.jpg", "big 2.jpg"], size=70 * 2**20)
    settings = settings_for(emulator, tmp_path / "data")
    job_request = JobRequest.model_validate(
        {"photos": [{"path": str(big)} for big in bigs], "smart": True}
    ).split()
    async with JobEngine.open(settings, resume=False, transfers=2) as engine:
        job, _ = await engine.create(*job_request)

        def some_parts(_: JobView) -> bool:
            return any("partNumber" in t for t in puts(log)) if log.exists() else False

        await until(engine, job.id, some_parts)
    before = {t for t in puts(log) if "partNumber" in t}
    async with JobEngine.open(settings, transfers=2) as engine:
        done = await until(engine, job.id, lambda v: v.state.ended)
    assert done.state is JobState.DONE, done
    parts = Counter(t for t in puts(log) if "partNumber" in t)
    assert set(parts.values()) == {1}, parts  # no part went up twice
    assert before and len(parts) == 4 > len(before)
    assert posts(log, "/multipart_uploads") == 2  # one upload per file, continued


@pytest.mark.parametrize("hook", ["upload_closed", "uploaded"])
async def test_a_multipart_upload_completed_before_a_stop_is_neither_sent_nor_completed_again(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    """The complete took effect and the bridge stopped before recording it (before or after
    closing the open upload): the restarted job asks Imagen, not the store, and goes on."""
    from bridge.jobs.recording import StoreCheckpoint

    stuck = asyncio.Event()

    async def dies_here(self: StoreCheckpoint, photo: Any) -> None:
        stuck.set()
        await asyncio.Event().wait()

    log = tmp_path / "access.log"
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1), access_log=log)
    big = make_photos(tmp_path, ["pano.jpg"], size=70 * 2**20)
    settings = settings_for(emulator, tmp_path / "data")
    job_request = JobRequest.model_validate(
        {"photos": [{"path": str(big[0])}], "smart": True}
    ).split()
    with monkeypatch.context() as patch:
        patch.setattr(StoreCheckpoint, hook, dies_here)
        async with JobEngine.open(settings, resume=False) as engine:
            job, _ = await engine.create(*job_request)
            async with asyncio.timeout(30):
                await stuck.wait()
    completes = posts(log, "/complete")
    assert completes == 1
    async with JobEngine.open(settings) as engine:
        done = await until(engine, job.id, lambda v: v.state.ended)
    assert done.state is JobState.DONE and done.counts.ready == 1, done
    assert posts(log, "/complete") == completes
    assert posts(log, "/multipart_uploads") == 1
    parts = Counter(t for t in puts(log) if "partNumber" in t)
    assert parts and set(parts.values()) == {1}, parts


async def test_a_count_that_cannot_tell_is_settled_by_asking_for_the_multipart_upload(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the stop, pano.jpg's complete had taken effect unrecorded and small.jpg was marked
    landing but its last chunk had not gone: Imagen holds one file of two in doubt. The
    multipart upload is asked again (a 404 says it is done), then the count is clear."""
    from bridge.jobs import runner
    from bridge.jobs.recording import StoreCheckpoint

    real_landing = runner._Landing.landing
    stuck = {"pano.jpg": asyncio.Event(), "small.jpg": asyncio.Event()}

    async def uploaded(self: StoreCheckpoint, photo: Any) -> None:
        stuck[photo.name].set()
        await asyncio.Event().wait()

    async def landing(self: Any) -> None:
        await real_landing(self)  # marked, durably; the last chunk waits forever
        if self.photo.name == "small.jpg":
            await uploaded(self.checkpoint, self.photo)

    log = tmp_path / "access.log"
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1), access_log=log)
    big = make_photos(tmp_path, ["pano.jpg"], size=70 * 2**20)
    small = make_photos(tmp_path, ["small.jpg"], size=2**20)
    settings = settings_for(emulator, tmp_path / "data")
    job_request = JobRequest.model_validate(
        {"photos": [{"path": str(p)} for p in (*big, *small)], "smart": True}
    ).split()
    with monkeypatch.context() as patch:
        patch.setattr(StoreCheckpoint, "uploaded", uploaded)
        patch.setattr(runner._Landing, "landing", landing)
        async with JobEngine.open(settings, resume=False) as engine:
            job, _ = await engine.create(*job_request)
            async with asyncio.timeout(30):
                await asyncio.gather(*(event.wait() for event in stuck.values()))
    assert posts(log, "/complete") == 1
    assert not any(t.split("?")[0].endswith("/small.jpg") for t in puts(log))
    async with JobEngine.open(settings) as engine:
        done = await until(engine, job.id, lambda v: v.state.ended)
    assert done.state is JobState.DONE and done.counts.ready == 2, done
    assert posts(log, "/complete") == 2  # asked again: the 404 said it was done
    assert posts(log, "/multipart_uploads") == 1
    uploads = puts(log)
    assert set(uploads.values()) == {1}, uploads
    assert sum(t.split("?")[0].endswith("/small.jpg") for t in uploads) == 1


async def test_a_multipart_complete_whose_answer_was_lost_does_not_fail_the_photo(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first complete took effect but its answer was lost; the retry gets a 404. The
    photo is uploaded (Imagen holds it), so it must be edited, not failed."""
    from bridge.imagen import ImagenClient

    real = ImagenClient.i2i_multipart_complete

    async def answer_lost(self: ImagenClient, uuid: str, upload_id: str, name: str) -> None:
        await real(self, uuid, upload_id, name)  # took effect...
        await real(self, uuid, upload_id, name)  # ...and the retry is told 404

    monkeypatch.setattr(ImagenClient, "i2i_multipart_complete", answer_lost)
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1))
    big = make_photos(tmp_path, ["pano.jpg"], size=70 * 2**20)
    job_request = JobRequest.model_validate(
        {"photos": [{"path": str(big[0])}], "smart": True}
    ).split()
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*job_request)
        done = await until(engine, job.id, lambda v: v.state.ended)
    assert done.state is JobState.DONE and done.counts.ready == 1, done


async def test_a_serving_engine_forgets_jobs_ended_long_ago(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1))
    settings = settings_for(emulator, tmp_path / "data").model_copy(
        update={"job_retention_days": 7}
    )
    photos = make_photos(tmp_path, ["a.CR2"])
    async with JobEngine.open(settings) as engine:
        old, _ = await engine.create(*request(photos))
        recent, _ = await engine.create(*request(photos))
        for job in (old, recent):
            await until(engine, job.id, lambda v: v.state.ended)
        assert Path(old.out_dir).is_dir()
        await engine.store.write(
            lambda db: db.execute(
                "UPDATE jobs SET finished_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (old.id,)
            )
        )
    async with JobEngine.open(settings, adopt=True) as engine:
        assert [j.id for j in (await engine.list_jobs()).jobs] == [recent.id]
    assert not Path(old.out_dir).exists() and Path(recent.out_dir).is_dir()


async def _imgwire_records(emulator: Any) -> list[dict[str, Any]]:
    return list((await records(emulator, "imgwire"))["images"])


async def test_exports_land_beside_the_originals_and_are_delivered_once(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """Exports go to ``Imagen Export/`` next to each original, named after the photo, never
    over a file that is there; delivery records each photo, and a restart sends none again."""
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1))
    settings = settings_for(emulator, tmp_path / "data").model_copy(
        update={
            "imgwire_api_key": SecretStr(IMGWIRE_KEY),
            "imgwire_base_url": emulator.imgwire_url,
        }
    )
    photos = make_photos(tmp_path / "Hochzeit Müller", ["DSC_1.NEF", "DSC_2.NEF", "婚礼.CR2"])
    taken = tmp_path / "Hochzeit Müller" / "Imagen Export" / "DSC_1.jpg"
    taken.parent.mkdir()
    taken.write_bytes(b"the photographer's own file")
    job_request = request(photos, export=True, deliver={"to": "imgwire", "tags": ["wedding"]})
    async with JobEngine.open(settings) as engine:
        job, _ = await engine.create(*job_request)
        done = await until(engine, job.id, lambda v: v.state.ended)
        views = (await engine.photos(job.id)).photos
    assert done.state is JobState.DONE, done
    assert taken.read_bytes() == b"the photographer's own file"  # never overwritten
    placed = [Path(v.exports[0]) for v in views]
    assert [p.name for p in placed] == ["DSC_1-2.jpg", "DSC_2.jpg", "婚礼.jpg"]
    assert all(p.parent == taken.parent and p.read_bytes()[:2] == b"\xff\xd8" for p in placed)
    assert [[d.status for d in v.deliveries] for v in views] == [["READY"]] * 3
    images = await _imgwire_records(emulator)
    assert len(images) == 3
    assert {i["custom_metadata"]["photo"] for i in images} == {0, 1, 2}
    # delivering the ended job again (a restarted bridge, a second click) sends nothing new
    async with JobEngine.open(settings) as engine:
        await engine.deliver(job.id, job_request[0].deliver)  # type: ignore[arg-type]
        again = await until(engine, job.id, lambda v: v.state.ended and v.revision > done.revision)
    assert again.state is JobState.DONE
    assert len(await _imgwire_records(emulator)) == 3


async def test_hdr_frames_share_the_merged_dng_and_its_settings(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1))
    frames = make_photos(tmp_path / "bracket", ["B_1.CR2", "B_2.CR2", "B_3.CR2"])
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request(frames, tools={"hdr_merge": True}))
        done = await until(engine, job.id, lambda v: v.state.ended)
        photos = (await engine.photos(job.id)).photos
    assert done.counts.ready == 3, done
    merged = {p.hdr_output for p in photos}
    assert len(merged) == 1 and next(iter(merged), "").endswith("B_1_HDR.dng")
    assert all(p.develop_settings for p in photos)  # from the DNG's embedded XMP


@pytest.mark.parametrize(
    ("names", "fields", "fits"),
    [
        (["IMG_1.CR2", "IMG_2.CR2"], {}, True),  # sidecars only: a little room is plenty
        (["IMG_1.CR2", "IMG_2.CR2"], {"export": True}, False),  # a JPEG per photo
        (["a.jpg", "b.jpg"], {"profile_key": 5702}, False),  # an edited JPEG per JPEG
    ],
    ids=["raws", "raws-exported", "jpegs"],
)
async def test_a_job_whose_outputs_cannot_fit_fails_before_any_upload(
    emulator_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    names: list[str],
    fields: dict[str, Any],
    fits: bool,
) -> None:
    log = tmp_path / "access.log"
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.1), access_log=log)
    photos = make_photos(tmp_path / "shoot", names, size=8 * 2**20)
    out = tmp_path / "out"
    # room for the margin and the sidecars, not for two 8 MB images
    disk_with(monkeypatch, tmp_path, 64 * 2**20 + 12 * 2**20)
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request(photos, out_dir=str(out), **fields))
        done = await until(engine, job.id, lambda v: v.state.ended)
    if fits:
        assert done.state is JobState.DONE
        assert len(puts(log)) == 2
    else:
        assert done.state is JobState.FAILED
        assert done.error is not None and done.error.code == "disk_full"
        assert "MB free" in done.error.message and "Free some space" in done.error.message
        assert puts(log) == Counter()


async def test_a_big_job_runs_its_projects_a_few_at_a_time_and_merges_in_pages(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Projects hold at most PROJECT_PHOTOS photos, at most PROJECTS_AT_ONCE run together
    (each loaded when it starts), and the sidecars are merged a page at a time, all under
    the job's one merge id."""
    import bridge.jobs.engine as engine_module

    monkeypatch.setattr(engine_module, "PROJECT_PHOTOS", 2)
    monkeypatch.setattr(engine_module, "PROJECTS_AT_ONCE", 2)
    log = tmp_path / "access.log"
    emulator = await emulator_factory(faults=FaultConfig(processing_s=0.3), access_log=log)
    names = [f"IMG_{n}.CR2" for n in range(7)]
    photos = make_photos(tmp_path / "shoot", names)
    running: set[int] = set()
    most = 0

    def watch(event: Any) -> None:
        nonlocal most
        if isinstance(event, ProjectPhase):
            if event.phase in ("done", "failed"):
                running.discard(event.project)
            else:
                running.add(event.project)
                most = max(most, len(running))

    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request(photos), start=False)
        engine.watch(job.id, watch)
        engine.start(job.id)
        done = await engine.join(job.id)
        after = (await engine.photos(job.id, settings=False)).photos
    assert done.state is JobState.DONE and done.counts.ready == 7
    assert sorted(Counter(p.project for p in after).values()) == [1, 2, 2, 2]
    assert posts(log, "/projects/") == 4 and most == 2
    assert all(p.sidecar and p.sidecar.status == "created" for p in after)
    with Journal(tmp_path / "data") as journal:
        (merge,) = journal.merges()
    assert merge.merge_id == done.merge_id and merge.created == 7


async def test_bytes_sent_count_until_stored_and_are_then_forgotten(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """Upload progress lives in memory until the store holds it; then only the files still
    moving stay there, and the job's bytes never step back meanwhile."""
    emulator = await emulator_factory()
    photos = make_photos(tmp_path / "shoot", ["a.CR2", "b.CR2", "c.CR2"], size=10_000)
    async with JobEngine.open(settings_for(emulator, tmp_path / "data")) as engine:
        job, _ = await engine.create(*request(photos), start=False)
        live = engine._live[job.id]
        live.bytes.update({0: 4_000, 1: 2_500})
        assert (await engine.get(job.id)).bytes_done == 6_500
        engine._flush_bytes(job.id)
        live.bytes[1] = 3_000  # moved on while the flush was being written
        await engine.store.write(lambda db: None)
        assert live.bytes == {1: 3_000}
        view = await engine.get(job.id)
        assert (view.bytes_done, view.bytes_total) == (7_000, 30_000)
