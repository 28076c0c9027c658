"""``GET /v1/jobs/{id}/events``: Server-Sent Events with revision ids, resume, heartbeats,
and an end after the final job event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.jobs.models import JobView, PhotoView
from tests.jobs.helpers import make_photos
from tests.server.conftest import BridgeFactory
from tests.server.support import Live
from tests.server.test_jobs_routes import NAMES, _request, _until_ended


async def _read_stream(
    live: Live, job_id: str, headers: dict[str, str] | None = None, *, limit: int | None = None
) -> tuple[list[dict[str, Any]], list[str], aiohttp.ClientResponse]:
    """Parse the stream into events (id, event, data) and comment lines, until it ends."""
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    sent = {"Authorization": f"Bearer {live.token}", **(headers or {})}
    async with live.session.get(f"{live.origin}/v1/jobs/{job_id}/events", headers=sent) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        async for raw in response.content:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith(":"):
                comments.append(line)
            elif line == "":
                if current:
                    events.append(current)
                    current = {}
                    if limit is not None and len(events) >= limit:
                        break
            else:
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" else value
        return events, comments, response


async def test_the_stream_from_connect_to_the_final_job_event(bridge: Live, tmp_path: Path) -> None:
    paths = make_photos(tmp_path, NAMES)
    job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
    events, _, _ = await _read_stream(bridge, job["id"])
    assert events[0]["event"] == "job"
    assert events[-1]["event"] == "job"
    assert events[-1]["data"]["state"] == "done"
    revisions = [int(e["id"]) for e in events]
    assert revisions[-1] == max(revisions)
    for event in events:
        assert int(event["id"]) == event["data"]["revision"]
        model = JobView if event["event"] == "job" else PhotoView
        model.model_validate(event["data"])
    ready = {e["data"]["index"] for e in events
             if e["event"] == "photo" and e["data"]["state"] == "ready"}  # fmt: skip
    assert ready == {0, 1, 2, 3}


async def test_ids_never_go_back_after_the_first_event(bridge: Live, tmp_path: Path) -> None:
    """After the connect event (the job as it is now), events come in revision order, so
    Last-Event-ID = the last id seen never skips a change."""
    paths = make_photos(tmp_path, NAMES)
    job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
    events, _, _ = await _read_stream(bridge, job["id"])
    revisions = [int(e["id"]) for e in events]
    assert revisions[1:] == sorted(revisions[1:])


async def test_last_event_id_resumes_after_it(bridge: Live, tmp_path: Path) -> None:
    paths = make_photos(tmp_path, NAMES)
    job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
    done = await _until_ended(bridge, job["id"])
    everything, _, _ = await _read_stream(bridge, job["id"])
    assert {e["data"]["index"] for e in everything if e["event"] == "photo"} == {0, 1, 2, 3}
    photos = (await bridge.call("GET", f"/v1/jobs/{job['id']}/photos")).json["photos"]
    revisions = sorted({p["revision"] for p in photos})
    for cut in (revisions[0] - 1, revisions[0], revisions[-1]):
        resumed, _, _ = await _read_stream(bridge, job["id"], {"Last-Event-ID": str(cut)})
        assert resumed[0]["event"] == "job"
        assert resumed[0]["data"]["revision"] == done["revision"]
        sent = [e["data"] for e in resumed if e["event"] == "photo"]
        assert all(p["revision"] > cut for p in sent)
        assert {p["index"] for p in sent} == {p["index"] for p in photos if p["revision"] > cut}
    assert len(sent) == 0 and len(resumed) >= 1
    latest, _, _ = await _read_stream(bridge, job["id"], {"Last-Event-ID": str(done["revision"])})
    assert [e["event"] for e in latest] == ["job"]


async def test_heartbeats_while_nothing_happens(
    bridge_factory: BridgeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_EMULATOR_FAULT_PROCESSING_S", "30")
    async with bridge_factory(heartbeat_s=0.02) as bridge:
        paths = make_photos(tmp_path, NAMES[:1])
        job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
        sent = {"Authorization": f"Bearer {bridge.token}"}
        url = f"{bridge.origin}/v1/jobs/{job['id']}/events"
        async with bridge.session.get(url, headers=sent) as response:
            beats = 0
            async for raw in response.content:
                if raw == b": heartbeat\n":
                    beats += 1
                    if beats == 3:
                        break
        assert beats == 3
        await bridge.call("POST", f"/v1/jobs/{job['id']}/cancel")


async def test_a_stream_ends_when_the_server_stops(
    bridge_factory: BridgeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_EMULATOR_FAULT_PROCESSING_S", "30")
    async with bridge_factory() as bridge:
        paths = make_photos(tmp_path, NAMES[:1])
        job = (await bridge.call("POST", "/v1/jobs", json_body=_request(paths))).json
        reading = asyncio.ensure_future(_read_stream(bridge, job["id"]))
        await asyncio.sleep(0.3)
        await bridge.app.shutdown()
        events, _, _ = await reading
        assert events[0]["event"] == "job"
