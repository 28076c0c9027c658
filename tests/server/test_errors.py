"""Every bad input gets a clear 4xx in the one error shape, before any handler work."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bridge.server.errors import MAX_BODY_BYTES
from tests.server.support import Live

JOB = "/v1/jobs/j-20261201-221503-4f2a9c"


async def test_unknown_route_404(guarded: Live) -> None:
    for path in ("/", "/v1", "/v2/health", "/v1/jobs/x/y/z", "/v1/%E2%9C%93"):
        answer = await guarded.call("GET", path)
        assert answer.status == 404, path
        assert answer.error_code == "not_found"


async def test_wrong_method_405_names_the_allowed_ones(guarded: Live) -> None:
    answer = await guarded.call("DELETE", "/v1/jobs")
    assert answer.status == 405
    assert answer.error_code == "method_not_allowed"
    assert answer.headers["Allow"] == "GET, POST"
    assert (await guarded.call("GET", f"{JOB}/cancel")).status == 405
    assert (await guarded.call("PUT", "/v1/health")).status == 405


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        (JOB, "since=1.5", "since"),
        (JOB, "since=abc", "since"),
        (JOB, "since=1&wait=61", "wait"),
        (JOB, "since=1&wait=-1", "wait"),
        (JOB, "since=1&wait=nan", "wait"),
        (JOB, "since=1&since=2", "since"),
        (JOB, "sinse=1", "sinse"),
        ("/v1/jobs", "state=sleeping", "state"),
        ("/v1/jobs", "state=running&state=bogus", "state"),
        ("/v1/jobs", "limit=0", "limit"),
        ("/v1/jobs", "limit=501", "limit"),
        ("/v1/jobs", "limit=1e3", "limit"),
        (f"{JOB}/photos", "limit=0", "limit"),
        (f"{JOB}/photos", "limit=20001", "limit"),
        (f"{JOB}/photos", "after=-1", "after"),
        ("/v1/jobs", "before=", "before"),
        (f"{JOB}/photos", "settings=maybe", "settings"),
        (f"{JOB}/photos", "state=done", "state"),
        ("/v1/profiles", "refresh=please", "refresh"),
        ("/v1/merges", "x=1", "x"),
    ],
)
async def test_bad_query_400_names_the_parameter(
    guarded: Live, path: str, query: str, name: str
) -> None:
    answer = await guarded.call("GET", f"{path}?{query}")
    assert answer.status == 400, answer
    assert answer.error_code == "bad_request"
    (detail,) = answer.json["error"]["details"]
    assert detail["path"] == name
    assert answer.json["error"]["message"].startswith(f"{name}: ")


async def test_bad_header_400(guarded: Live) -> None:
    answer = await guarded.call("GET", f"{JOB}/events", headers={"Last-Event-ID": "soon"})
    assert answer.status == 400
    assert answer.json["error"]["details"][0]["path"] == "Last-Event-ID"
    answer = await guarded.call(
        "POST", "/v1/jobs", json_body={}, headers={"Idempotency-Key": "k" * 201}
    )
    assert answer.status == 400
    assert answer.json["error"]["details"][0]["path"] == "Idempotency-Key"


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/merge", "/v1/undo", f"{JOB}/applied"])
async def test_post_bodies_must_be_json_415(guarded: Live, path: str) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                         "application/jsonp", "application/octet-stream"):  # fmt: skip
        answer = await guarded.call(
            "POST", path, data=b"{}", headers={"Content-Type": content_type}
        )
        assert answer.status == 415, content_type
        assert answer.error_code == "unsupported_media_type"


async def test_json_with_a_charset_is_json(guarded: Live) -> None:
    answer = await guarded.call(
        "POST", "/v1/undo", data=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert answer.status == 422


async def test_body_over_8_mib_413(guarded: Live) -> None:
    body = b'{"sources": ["' + b"a" * MAX_BODY_BYTES + b'"]}'
    answer = await guarded.call(
        "POST", "/v1/merge", data=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 413
    assert answer.error_code == "payload_too_large"


async def test_chunked_body_over_8_mib_413(guarded: Live) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"sources": ["'
        for _ in range(9):
            yield b"a" * 2**20
        yield b'"]}'

    async with guarded.session.post(
        guarded.origin + "/v1/merge",
        data=chunks(),
        headers={"Authorization": f"Bearer {guarded.token}", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b"{'sources': []}",
        b'{"last": true',
        b"\xff\xfe{}",
        b'{"merge_id": "\xe9"}',
        b"[" * 100_000,
    ],
)
async def test_not_json_400(guarded: Live, body: bytes) -> None:
    answer = await guarded.call(
        "POST", "/v1/undo", data=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 400, answer
    assert answer.error_code == "bad_request"


async def test_validation_422_names_each_field(guarded: Live) -> None:
    answer = await guarded.call(
        "POST",
        "/v1/merge",
        json_body={"sources": ["/ok.xmp", "relative/IMG_1.xmp", 7], "recursive": "maybe",
                   "into": "/x", "bogus": 1},
    )  # fmt: skip
    assert answer.status == 422
    assert answer.error_code == "validation_error"
    paths = {d["path"]: d["message"] for d in answer.json["error"]["details"]}
    assert paths["sources.1"] == "must be an absolute path"
    assert "sources.2" in paths and "recursive" in paths
    assert "not permitted" in paths["bogus"]
    assert answer.json["error"]["message"].startswith("sources.1: must be an absolute path")


async def test_validation_422_of_the_whole_body(guarded: Live) -> None:
    for body in ([], "text", 3, None):
        answer = await guarded.call(
            "POST", "/v1/undo", data=__import__("json").dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert answer.status == 422, body
    answer = await guarded.call("POST", "/v1/undo", json_body={"merge_id": "x", "last": True})
    assert answer.status == 422
    assert "exactly one" in answer.json["error"]["message"]


async def test_job_request_problems_422_with_the_photo_path(guarded: Live) -> None:
    answer = await guarded.call(
        "POST", "/v1/jobs",
        json_body={"photos": [{"path": "/a/IMG_1.CR2"}, {"path": "IMG_2.CR2"}], "profile_key": 1},
    )  # fmt: skip
    assert answer.status == 422
    (detail,) = answer.json["error"]["details"]
    assert detail == {"path": "photos.1.path", "message": "must be an absolute path"}
    answer = await guarded.call("POST", "/v1/jobs", json_body={"photos": []})
    assert {d["path"] for d in answer.json["error"]["details"]} == {"photos"}
