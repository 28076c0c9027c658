"""Injected faults (statuses, drops) and hostile requests, against a served store."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import httpx
import pytest

from bridge.emulator.objectstore import BUCKET

from .conftest import MakeStore, Store
from .helpers import curl, files_under, raw_exchange, s3_error, wait_until

KEY = "projects/1/uploads/DSC_0001.NEF"


async def statuses(served: Store, count: int) -> dict[str, int]:
    """Fire ``count`` API and ``count`` storage requests concurrently; path -> status."""
    served.store.write_object(KEY, b"x")
    urls = [f"{served.origin}/v1/ping/{n}" for n in range(count)]
    urls += [served.store.presign("GET", f"{KEY}.{n}", origin=served.origin) for n in range(count)]

    async def status(session: aiohttp.ClientSession, url: str) -> int:
        async with session.get(url) as response:
            return response.status

    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(status(session, url) for url in urls))
    return {
        url.split("?")[0].removeprefix(served.origin): s
        for url, s in zip(urls, results, strict=True)
    }


async def test_fault_decisions_are_reproducible_per_seed_and_match_the_rate(
    make_store: MakeStore,
) -> None:
    config = {"seed": 7, "rate_429": 0.1, "rate_500": 0.1, "rate_503": 0.1}
    first = await statuses(await make_store(**config), 200)
    again = await statuses(await make_store(**config), 200)
    other_seed = await statuses(await make_store(**{**config, "seed": 8}), 200)
    assert first == again  # same seed, concurrent requests: identical outcomes, path by path
    assert first != other_seed
    faulted = [status for status in first.values() if status in (429, 500, 503)]
    assert 0.2 <= len(faulted) / len(first) <= 0.4
    assert {429, 500, 503} <= set(faulted)
    # Everything else was served normally: 200 for pings, 404 NoSuchKey for the missing keys.
    assert set(first.values()) - {429, 500, 503} == {200, 404}


async def test_a_retry_gets_a_fresh_decision(make_store: MakeStore) -> None:
    served = await make_store(seed=3, rate_503=0.5)
    async with httpx.AsyncClient() as client:
        outcomes = [
            (await client.get(f"{served.origin}/v1/ping/same")).status_code for _ in range(40)
        ]
    assert set(outcomes) == {200, 503}


async def test_injected_errors_use_each_side_s_error_format(make_store: MakeStore) -> None:
    served = await make_store(rate_503=1.0, retry_after_s=7)
    url = served.store.presign("PUT", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        storage = await client.put(url, content=b"x")
        api = await client.get(f"{served.origin}/v1/ping/1")
    assert storage.status_code == 503
    assert storage.headers["Retry-After"] == "7"
    assert s3_error(storage.content)[0] == "SlowDown"
    assert api.status_code == 503
    assert "injected" in api.json()["error"]["message"]
    assert not served.store.exists(KEY)

    served = await make_store(rate_500=1.0)
    async with httpx.AsyncClient() as client:
        response = await client.get(served.store.presign("GET", KEY, origin=served.origin))
    assert response.status_code == 500
    assert s3_error(response.content)[0] == "InternalError"

    served = await make_store(rate_429=1.0, retry_after_s=2)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{served.origin}/v1/ping/1")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")


async def test_latency_is_added(make_store: MakeStore) -> None:
    served = await make_store(latency_ms=150)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient() as client:
        started = loop.time()
        await client.get(f"{served.origin}/v1/ping/1")
        assert loop.time() - started >= 0.14


async def test_dropped_upload_breaks_the_connection_and_stores_nothing(
    make_store: MakeStore, tmp_path: Path
) -> None:
    served = await make_store(drop_upload_rate=1.0)
    url = served.store.presign("PUT", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.TransportError):
            await client.put(url, content=os.urandom(2_000_000))
    photo = tmp_path / "photo"
    photo.write_bytes(os.urandom(2_000_000))
    put = await curl("-H", "Content-Type;", "--upload-file", str(photo), url, tmp_path=tmp_path)
    assert put.returncode in (55, 56)  # curl: failed sending / receiving network data
    assert put.status in (0, 100)  # no final answer, at most "100 Continue"
    await wait_until(lambda: not files_under(served.root))
    assert not served.store.exists(KEY)


async def test_dropped_download_is_a_truncated_body(make_store: MakeStore, tmp_path: Path) -> None:
    served = await make_store(drop_download_rate=1.0)
    data = os.urandom(1_000_000)
    served.store.write_object(KEY, data)
    url = served.store.presign("GET", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(url)
        head = await client.head(url)  # nothing to cut in a HEAD
    assert head.status_code == 200
    got = await curl(url, tmp_path=tmp_path)
    assert got.returncode == 18  # curl: "Partial file"
    assert 0 < len(got.body) < len(data)
    assert served.store.open_read(KEY).read() == data


async def test_drop_rate_is_partial_and_reproducible(make_store: MakeStore) -> None:
    async def attempts(served: Store) -> list[bool]:
        served.store.write_object(KEY, b"z" * 10_000)
        url = served.store.presign("GET", KEY, origin=served.origin)
        results = []
        async with httpx.AsyncClient() as client:
            for _ in range(60):
                try:
                    results.append((await client.get(url)).content == b"z" * 10_000)
                except httpx.RemoteProtocolError:
                    results.append(False)
        return results

    first = await attempts(await make_store(seed=11, drop_download_rate=0.3))
    second = await attempts(await make_store(seed=11, drop_download_rate=0.3))
    assert first == second
    assert 0.15 <= first.count(False) / len(first) <= 0.45


async def test_ids_the_emulator_invents_do_not_change_fault_decisions(
    make_store: MakeStore,
) -> None:
    """A rerun gets new random project UUIDs and upload ids, and must meet the same faults."""

    async def outcomes(served: Store, project: str, upload_id: str) -> list[tuple[int, bool]]:
        key = f"projects/{project}/uploads/IMG_1.jpg"
        served.store.write_object(key, b"y" * 4096)
        url = served.store.presign("GET", key, origin=served.origin)
        api = f"{served.origin}/v1/i2i/projects/{project}/multipart_uploads/{upload_id}/complete"
        results = []
        async with httpx.AsyncClient() as client:
            for _ in range(30):
                try:
                    complete = (await client.get(url)).content == b"y" * 4096
                except httpx.RemoteProtocolError:
                    complete = False
                results.append(((await client.post(api)).status_code, complete))
        return results

    faults = {"seed": 5, "rate_503": 0.3, "drop_download_rate": 0.3}
    first = await outcomes(
        await make_store(**faults), "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "ab" * 16
    )
    rerun = await outcomes(
        await make_store(**faults), "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "cd" * 16
    )
    assert first == rerun
    assert {503} < {status for status, _ in first}  # faults did happen...
    assert not all(complete for _, complete in first)  # ...on both sides


async def test_client_that_hangs_up_mid_body_leaves_no_object(served: Store) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    target = url.removeprefix(served.origin)
    head = f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode()
    await raw_exchange(served.origin, head + b"a" * 40_000, close_after_send=True)
    await wait_until(lambda: not files_under(served.root / "tmp"))
    await asyncio.sleep(0.1)
    assert not served.store.exists(KEY)
    assert files_under(served.root) == []


async def test_stalled_body_times_out_with_a_clear_error(make_store: MakeStore) -> None:
    served = await make_store(idle_timeout=0.3)
    target = served.store.presign("PUT", KEY, origin=served.origin).removeprefix(served.origin)
    head = f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode()
    answer = await raw_exchange(served.origin, head + b"only ten..")
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert s3_error(rest.split(b"\r\n\r\n", 1)[1])[0] == "RequestTimeout"
    assert not served.store.exists(KEY)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", f"/storage/{BUCKET}/%FF%FE.jpg", 400, "InvalidURI"),
        ("GET", f"/storage/{BUCKET}/" + "k" * 1100, 400, "KeyTooLongError"),
        ("GET", "/storage/other-bucket/key", 404, "NoSuchBucket"),
        ("GET", f"/storage/{BUCKET}", 400, "InvalidRequest"),
        ("GET", "/storage/", 400, "InvalidRequest"),
        ("GET", f"/storage/{BUCKET}/..%2F..%2Fetc%2Fpasswd", 403, "AccessDenied"),
        ("GET", f"/storage/{BUCKET}/a?X-Amz-Signature=1&X-Amz-Signature=2", 400, "InvalidArgument"),
        ("GET", f"/storage/{BUCKET}/a?X-Amz-Date=%FF", 400, "AuthorizationQueryParametersError"),
        ("PUT", f"/storage/{BUCKET}/a?partNumber=1", 400, "InvalidRequest"),
        ("PUT", f"/storage/{BUCKET}/a?partNumber=x&uploadId=1", 400, "InvalidArgument"),
    ],
)
async def test_hostile_paths_get_clear_4xx(
    served: Store, method: str, path: str, status: int, code: str
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.request(method, f"{served.origin}{path}")
    assert response.status_code == status
    assert s3_error(response.content)[0] == code


async def test_other_methods_are_not_allowed(served: Store) -> None:
    url = served.store.presign("GET", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        for method in ("POST", "DELETE", "PATCH"):
            response = await client.request(method, url)
            assert response.status_code == 405
            assert s3_error(response.content)[0] == "MethodNotAllowed"


async def test_huge_headers_and_garbage_are_refused(served: Store) -> None:
    url = served.store.presign("GET", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers={"X-Junk": "j" * 100_000})
    assert 400 <= response.status_code < 500
    answer = await raw_exchange(served.origin, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))


async def test_only_storage_paths_belong_to_the_store(served: Store) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{served.origin}/storagex/{BUCKET}/a")
    assert response.status_code == 404
    assert not response.content.startswith(b"<?xml")
