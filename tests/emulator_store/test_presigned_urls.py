"""Presigned PUT/GET URLs behave like Imagen's S3 links, seen through curl and httpx."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import httpx
import pytest

from bridge.emulator.objectstore import BUCKET

from .conftest import MakeStore, Store
from .helpers import curl, files_under, raw_exchange, s3_error

KEY = "projects/4f1c/uploads/IMG 0001 Ü 東京 📷.NEF"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.nef"
    path.write_bytes(os.urandom(300_000))
    return path


async def test_curl_put_with_empty_content_type_round_trips(
    served: Store, photo: Path, tmp_path: Path
) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    put = await curl(
        "-X", "PUT", "-H", "Content-Type;", "--upload-file", str(photo), url, tmp_path=tmp_path
    )
    assert (put.returncode, put.status) == (0, 200)

    get = await curl(served.store.presign("GET", KEY, origin=served.origin), tmp_path=tmp_path)
    assert get.status == 200
    assert get.body == photo.read_bytes()
    assert served.store.size(KEY) == photo.stat().st_size


async def test_curl_put_with_a_real_content_type_is_refused(
    served: Store, photo: Path, tmp_path: Path
) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    put = await curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type: image/x-nikon-nef",
        "--upload-file",
        str(photo),
        url,
        tmp_path=tmp_path,
    )
    assert put.status == 403
    assert s3_error(put.body)[0] == "SignatureDoesNotMatch"
    assert not served.store.exists(KEY)


async def test_put_without_any_content_type_is_accepted(served: Store) -> None:
    # The official SDK's httpx PUT sends no Content-Type at all.
    url = served.store.presign("PUT", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        response = await client.put(url, content=b"raw bytes")
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{hashlib.md5(b"raw bytes").hexdigest()}"'


async def test_aiohttp_default_content_type_is_refused_and_empty_override_accepted(
    served: Store,
) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    async with aiohttp.ClientSession() as session:
        async with session.put(url, data=b"body") as response:
            assert response.status == 403  # aiohttp adds application/octet-stream
            assert s3_error(await response.read())[0] == "SignatureDoesNotMatch"
        async with session.put(url, data=b"body", headers={"Content-Type": ""}) as response:
            assert response.status == 200


async def test_expired_link_is_access_denied(served: Store, photo: Path, tmp_path: Path) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin, expires_in=60)
    served.clock.advance(62)
    put = await curl(
        "-X", "PUT", "-H", "Content-Type;", "--upload-file", str(photo), url, tmp_path=tmp_path
    )
    assert put.status == 403
    assert s3_error(put.body) == ("AccessDenied", "Request has expired")


async def test_default_lifetime_comes_from_the_fault_config(make_store: MakeStore) -> None:
    served = await make_store(link_lifetime_s=30)
    url = served.store.presign("GET", KEY, origin=served.origin)
    served.store.write_object(KEY, b"x")
    async with httpx.AsyncClient() as client:
        served.clock.advance(29)
        assert (await client.get(url)).status_code == 200
        served.clock.advance(3)
        response = await client.get(url)
    assert response.status_code == 403
    assert s3_error(response.content) == ("AccessDenied", "Request has expired")


async def test_tampered_signature_wrong_method_and_other_path_do_not_match(
    served: Store, photo: Path, tmp_path: Path
) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    put = await curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type;",
        "--upload-file",
        str(photo),
        with_query(url, **{"X-Amz-Signature": flipped}),
        tmp_path=tmp_path,
    )
    assert put.status == 403
    assert s3_error(put.body)[0] == "SignatureDoesNotMatch"

    served.store.write_object(KEY, b"exists")
    async with httpx.AsyncClient() as client:
        wrong_method = await client.get(url)  # a PUT link used for GET
        other_path = await client.put(url.replace("IMG%200001", "IMG%200002"), content=b"x")
        longer_expiry = await client.put(with_query(url, **{"X-Amz-Expires": "7200"}), content=b"x")
    for response in (wrong_method, other_path, longer_expiry):
        assert response.status_code == 403
        assert s3_error(response.content)[0] == "SignatureDoesNotMatch"
    assert served.store.open_read(KEY).read() == b"exists"


async def test_missing_and_malformed_query_auth(served: Store) -> None:
    url = served.store.presign("GET", KEY, origin=served.origin)
    served.store.write_object(KEY, b"x")
    bare = url.split("?")[0]
    params = dict(parse_qsl(urlsplit(url).query))
    partial = {k: v for k, v in params.items() if k != "X-Amz-Date"}
    async with httpx.AsyncClient() as client:
        no_auth = await client.get(bare)
        missing_one = await client.get(f"{bare}?{urlencode(partial)}")
        bad_date = await client.get(with_query(url, **{"X-Amz-Date": "yesterday"}))
        bad_expires = await client.get(with_query(url, **{"X-Amz-Expires": "999999999"}))
        not_a_number = await client.get(with_query(url, **{"X-Amz-Expires": "-5"}))
        bad_algorithm = await client.get(with_query(url, **{"X-Amz-Algorithm": "MD5"}))
    assert no_auth.status_code == 403
    assert s3_error(no_auth.content)[0] == "AccessDenied"
    for response in (missing_one, bad_date, bad_expires, not_a_number, bad_algorithm):
        assert response.status_code == 400
        assert s3_error(response.content)[0] == "AuthorizationQueryParametersError"


async def test_curl_chunked_upload_needs_content_length(served: Store, tmp_path: Path) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    put = await curl(
        "-H", "Content-Type;", "-T", "-", url, stdin=b"streamed from stdin", tmp_path=tmp_path
    )
    assert put.status == 411
    assert s3_error(put.body)[0] == "MissingContentLength"
    assert not served.store.exists(KEY)


async def test_httpx_generator_body_without_length_is_refused(served: Store) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"abc"

    url = served.store.presign("PUT", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        response = await client.put(url, content=body())
    assert response.status_code == 411
    assert s3_error(response.content)[0] == "MissingContentLength"


async def test_expect_continue_is_refused_before_the_body(
    served: Store, photo: Path, tmp_path: Path
) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    bad = await curl(
        "-H",
        "Expect: 100-continue",
        "-H",
        "Content-Type: image/jpeg",
        "--upload-file",
        str(photo),
        url,
        tmp_path=tmp_path,
    )
    assert bad.status == 403
    assert s3_error(bad.body)[0] == "SignatureDoesNotMatch"
    good = await curl(
        "-H",
        "Expect: 100-continue",
        "-H",
        "Content-Type;",
        "--upload-file",
        str(photo),
        url,
        tmp_path=tmp_path,
    )
    assert good.status == 200
    assert served.store.sha256(KEY) == hashlib.sha256(photo.read_bytes()).hexdigest()


async def test_expectations_are_answered_from_the_headers(served: Store) -> None:
    target = served.store.presign("PUT", KEY, origin=served.origin).removeprefix(served.origin)
    head = "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: {}\r\n\r\n"
    # A good PUT is told to go on before it sends a byte of its body ...
    answer = await raw_exchange(served.origin, head.format(target, "100-continue").encode())
    assert answer == b"HTTP/1.1 100 Continue\r\n\r\n"
    # ... and an expectation the store does not know is refused.
    answer = await raw_exchange(served.origin, head.format(target, "magic").encode())
    assert answer.startswith(b"HTTP/1.1 417 Expectation Failed\r\n")
    assert b"100 Continue" not in answer
    assert not served.store.exists(KEY)


async def test_entity_too_large(make_store: MakeStore, tmp_path: Path) -> None:
    served = await make_store(max_object_size=1000)
    url = served.store.presign("PUT", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        too_big = await client.put(url, content=b"x" * 1001)
        just_fits = await client.put(url, content=b"x" * 1000)
    assert too_big.status_code == 400
    assert s3_error(too_big.content)[0] == "EntityTooLarge"
    assert just_fits.status_code == 200
    # Refused from the headers alone, before a byte of the body (curl's Expect path).
    big = tmp_path / "big"
    big.write_bytes(b"y" * 5000)
    put = await curl(
        "-H",
        "Expect: 100-continue",
        "-H",
        "Content-Type;",
        "--upload-file",
        str(big),
        url,
        tmp_path=tmp_path,
    )
    assert put.status == 400
    assert s3_error(put.body)[0] == "EntityTooLarge"
    assert served.store.size(KEY) == 1000


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


async def test_signed_content_md5(served: Store) -> None:
    body = b"the photographer's raw file"
    url = served.store.presign("PUT", KEY, origin=served.origin, content_md5=md5_b64(body))
    async with httpx.AsyncClient() as client:
        missing = await client.put(url, content=body)
        other = await client.put(url, content=b"other", headers={"Content-MD5": md5_b64(b"other")})
        malformed = await client.put(url, content=body, headers={"Content-MD5": "not-md5!"})
        corrupted = await client.put(
            url, content=body[:-1] + b"X", headers={"Content-MD5": md5_b64(body)}
        )
        assert not served.store.exists(KEY)
        good = await client.put(url, content=body, headers={"Content-MD5": md5_b64(body)})
    # A signed header must be sent with the signed value (S3: SignatureDoesNotMatch) ...
    for response in (missing, other):
        assert response.status_code == 403
        assert s3_error(response.content)[0] == "SignatureDoesNotMatch"
    # ... a header that is no MD5 at all is InvalidDigest, a body that differs is BadDigest.
    assert malformed.status_code == 400
    assert s3_error(malformed.content)[0] == "InvalidDigest"
    assert corrupted.status_code == 400
    assert s3_error(corrupted.content)[0] == "BadDigest"
    assert good.status_code == 200
    assert served.store.open_read(KEY).read() == body


async def test_unsigned_content_md5_is_still_verified(served: Store) -> None:
    url = served.store.presign("PUT", KEY, origin=served.origin)
    async with httpx.AsyncClient() as client:
        response = await client.put(url, content=b"abc", headers={"Content-MD5": md5_b64(b"abd")})
    assert response.status_code == 400
    assert s3_error(response.content)[0] == "BadDigest"
    assert not served.store.exists(KEY)


async def test_missing_key_and_error_body_shape(served: Store) -> None:
    url = served.store.presign("GET", "projects/x/outputs/none.xmp", origin=served.origin)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/xml"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>')
    assert s3_error(response.content)[0] == "NoSuchKey"


async def test_keys_with_path_tricks_stay_inside_the_root(served: Store) -> None:
    keys = [
        "../../../etc/passwd",
        "/abs/path",
        "a/./b/../c",
        "C:\\x\\y",
        "nul\x00byte",
        "..",
        "ümlaut/東京/😀 space.jpg",
        "a//b",
    ]
    async with httpx.AsyncClient() as client:
        for index, key in enumerate(keys):
            body = f"object {index}".encode()
            put = await client.put(
                served.store.presign("PUT", key, origin=served.origin), content=body
            )
            assert put.status_code == 200, key
            get = await client.get(served.store.presign("GET", key, origin=served.origin))
            assert get.content == body, key
    stored = files_under(served.root)
    assert all(served.root in path.parents for path in stored)
    assert len([path for path in stored if path.suffix == ""]) == len(keys)
    assert not (served.root.parent / "etc").exists()
    assert BUCKET in served.store.presign("GET", keys[0], origin=served.origin)
