"""The job routes against the real engine and the embedded emulator, over a real socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bridge.jobs.models import JobView, PhotoView
from tests.jobs.helpers import make_photos
from tests.server.conftest import BridgeFactory
from tests.server.support import Live

NAMES = ["IMG_0001.CR2", "Hochzeit Müller 02.NEF", "婚礼 03.ARW", "Strand 🌅 04.CR2"]


def _request(paths: list[Path], **extra: Any) -> dict[str, Any]:
    return {
        "photos": [{"path": str(p), "id": f"lr-{i}"} for i, p in enumerate(paths)],
        "profile_key": 5700,
        "tools": {"crop": True, "subject_mask": True},
        **extra,
    }


async def _until_ended(live: Live, job_id: str) -> dict[str, Any]:
    """Long-poll until the job has ended (each call returns once the revision moved)."""
    job = (await live.call("GET", f"/v1/jobs/{job_id}")).json
    while job["state"] in ("queued", "running"):
        answer = await live.call("GET", f"/v1/jobs/{job_id}?since={job['revision']}&wait=30")
        assert answer.status == 200
        JobView.model_validate(answer.json)
        assert answer.json["revision"] >= job["revision"]
        job = answer.json
    return job


async def test_a_job_from_start_to_applied(bridge: Live, tmp_path: Path) -> None:
    shoot = tmp_path / "Shoot Zürich"
    paths = make_photos(shoot, NAMES)
    created = await bridge.call("POST", "/v1/jobs", json_body=_request(paths, label="Müller"))
    assert created.status == 201, created.json
    job = created.json
    assert job["state"] in ("queued", "running")
    assert job["photos_total"] == 4 and job["label"] == "Müller"
    assert job["request"]["profile_key"] == 5700 and "photos" not in job["request"]

    done = await _until_ended(bridge, job["id"])
    assert done["state"] == "done", done
    assert done["counts"]["ready"] == 4
    assert done["merge_id"] is not None

    photos = (await bridge.call("GET", f"/v1/jobs/{job['id']}/photos")).json["photos"]
    assert [p["index"] for p in photos] == [0, 1, 2, 3]
    assert [p["id"] for p in photos] == ["lr-0", "lr-1", "lr-2", "lr-3"]
    assert [Path(p["path"]).name for p in photos] == NAMES
    for photo in photos:
        PhotoView.model_validate(photo)
        assert photo["state"] == "ready" and photo["kind"] == "RAW"
        assert isinstance(photo["develop_settings"]["Exposure2012"], int | float)
        assert photo["sidecar"]["status"] == "created"
        assert Path(photo["sidecar"]["path"]).exists()
    bare = (await bridge.call("GET", f"/v1/jobs/{job['id']}/photos?settings=false")).json
    assert all(p["develop_settings"] is None for p in bare["photos"])
    assert bare["next"] is None

    pages, after = [], ""
    while True:  # pages of three: the full first one says where the next starts
        page = (await bridge.call("GET", f"/v1/jobs/{job['id']}/photos?limit=3{after}")).json
        pages.append([p["index"] for p in page["photos"]])
        if page["next"] is None:
            break
        after = f"&after={page['next']}"
    assert pages == [[0, 1, 2], [3]]

    applied = await bridge.call(
        "POST", f"/v1/jobs/{job['id']}/applied",
        json_body={"photos": [{"index": 0, "applied": True},
                              {"index": 2, "applied": False, "reason": "Lightroom: missing"}]},
    )  # fmt: skip
    assert applied.status == 200
    by_index = {p["index"]: p for p in applied.json["photos"]}
    assert set(by_index) == {0, 2}
    assert by_index[0]["state"] == "applied" and by_index[0]["applied_at"]
    assert by_index[2]["state"] == "ready" and by_index[2]["apply_error"] == "Lightroom: missing"
    after = (await bridge.call("GET", f"/v1/jobs/{job['id']}")).json
    assert after["revision"] > done["revision"] and after["counts"]["applied"] == 1
    ready = (await bridge.call("GET", f"/v1/jobs/{job['id']}/photos?state=ready")).json
    assert [p["index"] for p in ready["photos"]] == [1, 2, 3]
    both = await bridge.call("GET", f"/v1/jobs/{job['id']}/photos?state=ready&state=applied")
    assert len(both.json["photos"]) == 4

    undone = await bridge.call("POST", "/v1/undo", json_body={"merge_id": done["merge_id"]})
    assert undone.status == 200 and undone.json["complete"] is True
    assert sorted(p.name for p in shoot.iterdir()) == sorted(NAMES)


async def test_a_problem_of_one_photo_fails_only_that_photo(bridge: Live, tmp_path: Path) -> None:
    paths = make_photos(tmp_path, NAMES[:2])
    body = _request([*paths, tmp_path / "missing.CR2", tmp_path / "notes.txt"])
    created = await bridge.call("POST", "/v1/jobs", json_body=body)
    assert created.status == 201
    done = await _until_ended(bridge, created.json["id"])
    assert (done["state"], done["counts"]["ready"], done["counts"]["failed"]) == ("done", 2, 2)
    failed = await bridge.call("GET", f"/v1/jobs/{done['id']}/photos?state=failed")
    assert [p["index"] for p in failed.json["photos"]] == [2, 3]
    assert all(p["reason"] for p in failed.json["photos"])


async def test_request_wide_problems_are_422_before_a_job_exists(
    bridge: Live, tmp_path: Path
) -> None:
    paths = make_photos(tmp_path, NAMES[:1])
    unknown = await bridge.call("POST", "/v1/jobs", json_body=_request(paths, profile_key=99999))
    assert unknown.status == 422
    assert unknown.json["error"]["details"][0]["path"] == "profile_key"
    nothing = await bridge.call("POST", "/v1/jobs", json_body=_request([tmp_path / "no.CR2"]))
    assert nothing.status == 422
    assert (await bridge.call("GET", "/v1/jobs")).json == {"jobs": [], "next": None}


async def test_idempotency_key(bridge: Live, tmp_path: Path) -> None:
    paths = make_photos(tmp_path, NAMES[:1])
    key = {"Idempotency-Key": "lightroom-export-7 ü"}
    first = await bridge.call("POST", "/v1/jobs", json_body=_request(paths), headers=key)
    again = await bridge.call("POST", "/v1/jobs", json_body=_request(paths), headers=key)
    assert (first.status, again.status) == (201, 200)
    assert again.json["id"] == first.json["id"]
    other = await bridge.call("POST", "/v1/jobs", json_body=_request(paths, merge=False),
                              headers=key)  # fmt: skip
    assert other.status == 409 and other.error_code == "conflict"
    await _until_ended(bridge, first.json["id"])


async def test_listing_filters_and_pages(bridge: Live, tmp_path: Path) -> None:
    paths = make_photos(tmp_path, NAMES[:1])
    ids = []
    for _ in range(3):
        ids.append((await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json["id"])
    for job_id in ids:
        await _until_ended(bridge, job_id)
    page = (await bridge.call("GET", "/v1/jobs?limit=2")).json
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    rest = (await bridge.call("GET", f"/v1/jobs?limit=2&before={page['next']}")).json
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next"] is None
    assert len((await bridge.call("GET", "/v1/jobs?state=done")).json["jobs"]) == 3
    assert (await bridge.call("GET", "/v1/jobs?state=running&state=queued")).json["jobs"] == []
    unknown = await bridge.call("GET", "/v1/jobs?before=j-00000000-000000-000000")
    assert unknown.status == 404


async def test_long_poll_without_change_answers_the_same_job(bridge: Live, tmp_path: Path) -> None:
    paths = make_photos(tmp_path, NAMES[:1])
    created = await bridge.call("POST", "/v1/jobs", json_body=_request(paths))
    job = await _until_ended(bridge, created.json["id"])
    same = await bridge.call("GET", f"/v1/jobs/{job['id']}?since={job['revision']}&wait=0.1")
    assert same.status == 200
    assert same.json["revision"] == job["revision"]
    assert same.json["state"] == "done"


async def test_cancel_and_retry(
    bridge_factory: BridgeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_EMULATOR_FAULT_PROCESSING_S", "30")
    async with bridge_factory() as bridge:
        paths = make_photos(tmp_path, NAMES)
        job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
        running = await bridge.call("POST", f"/v1/jobs/{job['id']}/retry")
        assert running.status == 409, running.json
        canceled = await bridge.call("POST", f"/v1/jobs/{job['id']}/cancel")
        assert canceled.status == 200
        assert canceled.json["state"] == "canceled"
        assert canceled.json["counts"]["canceled"] == 4
        seen = await bridge.call("GET", f"/v1/jobs/{job['id']}")  # reads its own write
        assert seen.json == canceled.json
        again = await bridge.call("POST", f"/v1/jobs/{job['id']}/cancel")
        assert again.json["state"] == "canceled"
        assert again.json["revision"] == canceled.json["revision"]
        unknown = await bridge.call("POST", f"/v1/jobs/{job['id']}/retry",
                                    json_body={"photos": [7]})  # fmt: skip
        assert unknown.status == 422
        retried = await bridge.call("POST", f"/v1/jobs/{job['id']}/retry",
                                    json_body={"photos": [1, 3]})  # fmt: skip
        assert retried.status == 200
        assert retried.json["state"] in ("queued", "running")
        photos = (await bridge.call("GET", f"/v1/jobs/{job['id']}/photos")).json["photos"]
        assert [p["state"] for p in photos][0::2] == ["canceled", "canceled"]
        assert all(p["state"] != "canceled" for p in photos[1::2])
        await bridge.call("POST", f"/v1/jobs/{job['id']}/cancel")


async def test_applied_before_ready_is_409(
    bridge_factory: BridgeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_EMULATOR_FAULT_PROCESSING_S", "30")
    async with bridge_factory() as bridge:
        paths = make_photos(tmp_path, NAMES[:1])
        job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
        report = {"photos": [{"index": 0, "applied": True}]}
        answer = await bridge.call("POST", f"/v1/jobs/{job['id']}/applied", json_body=report)
        assert answer.status == 409
        await bridge.call("POST", f"/v1/jobs/{job['id']}/cancel")


async def test_unknown_jobs_are_404_on_every_job_route(bridge: Live) -> None:
    job = "/v1/jobs/j-20990101-000000-abcdef"
    for method, path, body in [
        ("GET", job, None), ("GET", f"{job}?since=3&wait=1", None), ("GET", f"{job}/events", None),
        ("GET", f"{job}/photos", None), ("POST", f"{job}/cancel", None),
        ("POST", f"{job}/retry", None), ("POST", f"{job}/applied",
                                          {"photos": [{"index": 0, "applied": True}]}),
        ("GET", "/v1/jobs/%F0%9F%98%80%20..%2F", None),
    ]:  # fmt: skip
        answer = await bridge.call(method, path, json_body=body)
        assert answer.status == 404, (method, path, answer)
        assert answer.error_code == "not_found"


async def test_health_and_profiles(bridge: Live) -> None:
    health = await bridge.call("GET", "/v1/health", token=None)
    assert health.json["backend"] == "emulator" and health.json["api_key_configured"] is False
    assert health.json["status"] == "ok" and health.json["api_version"] == 1
    assert isinstance(health.json["pid"], int) and health.json["uptime_s"] >= 0
    profiles = (await bridge.call("GET", "/v1/profiles")).json["profiles"]
    clean = [p for p in profiles if p["profile_key"] == 5700]
    assert clean == [{"profile_key": 5700, "profile_name": "CLEAN & CRISP",
                      "profile_type": "Talent", "image_type": "RAW"}]  # fmt: skip
    refreshed = await bridge.call("GET", "/v1/profiles?refresh=true")
    assert refreshed.json["profiles"] == profiles


async def test_long_polls_answer_when_the_server_stops(
    bridge_factory: BridgeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_EMULATOR_FAULT_PROCESSING_S", "30")
    async with bridge_factory() as bridge:
        paths = make_photos(tmp_path, NAMES[:1])
        job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
        current = (await bridge.call("GET", f"/v1/jobs/{job['id']}")).json
        poll = asyncio.ensure_future(
            bridge.call("GET", f"/v1/jobs/{job['id']}?since={current['revision'] + 1000}&wait=60")
        )
        await asyncio.sleep(0.2)
        await bridge.app.shutdown()
        answer = await poll
        assert answer.status == 200
        assert answer.json["id"] == job["id"]


async def test_deliver_refuses_running_jobs_and_jobs_without_exports(
    bridge_factory: BridgeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_EMULATOR_FAULT_PROCESSING_S", "30")
    async with bridge_factory() as bridge:
        paths = make_photos(tmp_path, NAMES[:1])
        job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
        running = await bridge.call("POST", f"/v1/jobs/{job['id']}/deliver",
                                    json_body={"to": "imgwire"})  # fmt: skip
        assert running.status == 409 and running.error_code == "conflict"
        await bridge.call("POST", f"/v1/jobs/{job['id']}/cancel")
        nothing = await bridge.call("POST", f"/v1/jobs/{job['id']}/deliver",
                                    json_body={"to": "imgwire"})  # fmt: skip
        assert nothing.status == 422
        assert nothing.json["error"]["details"][0]["path"] == "to"
        bad = await bridge.call("POST", f"/v1/jobs/{job['id']}/deliver", json_body={"to": "ftp"})
        assert bad.status == 422 and bad.json["error"]["details"][0]["path"] == "to"
        unknown = await bridge.call("POST", "/v1/jobs/j-20990101-000000-abcdef/deliver",
                                    json_body={"to": "imgwire"})  # fmt: skip
        assert unknown.status == 404
