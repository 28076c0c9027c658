"""S3 multipart rules and single-range downloads, over real sockets."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from bridge.emulator.faults import FaultConfig, Faults
from bridge.emulator.objectstore import MIN_PART_SIZE, ObjectStore, StoreError

from .conftest import Store
from .helpers import s3_error

KEY = "projects/9a/uploads/big photo.jpg"


async def put_part(
    client: httpx.AsyncClient, served: Store, upload_id: str, number: int, data: bytes
) -> httpx.Response:
    url = served.store.presign_part(upload_id, number, origin=served.origin)
    return await client.put(url, content=data, headers={"Content-Type": ""})


async def test_good_multipart_upload_assembles_byte_identical(served: Store) -> None:
    parts = [os.urandom(MIN_PART_SIZE), os.urandom(MIN_PART_SIZE + 7), os.urandom(1234)]
    upload_id = served.store.create_multipart(KEY)
    async with httpx.AsyncClient() as client:
        # Uploaded out of order, and part 2 twice: the second upload replaces the first.
        for number in (3, 2, 1):
            response = await put_part(client, served, upload_id, number, parts[number - 1])
            assert response.status_code == 200
            assert response.headers["ETag"] == f'"{hashlib.md5(parts[number - 1]).hexdigest()}"'
        parts[1] = os.urandom(MIN_PART_SIZE)
        assert (await put_part(client, served, upload_id, 2, parts[1])).status_code == 200
        served.store.complete_multipart(upload_id)
        download = await client.get(served.store.presign("GET", KEY, origin=served.origin))
    whole = b"".join(parts)
    assert download.content == whole
    assert served.store.sha256(KEY) == hashlib.sha256(whole).hexdigest()
    # S3's multipart ETag: md5 of the parts' md5s, then "-<part count>".
    combined = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert download.headers["ETag"] == f'"{combined}-3"'
    assert list((served.root / "multipart").iterdir()) == []


async def completed(served: Store, key: str, parts: list[bytes]) -> None:
    upload_id = served.store.create_multipart(key)
    async with httpx.AsyncClient() as client:
        for number, data in enumerate(parts, start=1):
            assert (await put_part(client, served, upload_id, number, data)).status_code == 200
    served.store.complete_multipart(upload_id)


def bytes_on_disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def inodes(root: Path) -> set[int]:
    return {p.stat().st_ino for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


async def test_a_completed_object_is_served_from_its_parts_without_a_copy(served: Store) -> None:
    parts = [os.urandom(MIN_PART_SIZE), os.urandom(MIN_PART_SIZE), os.urandom(1000)]
    upload_id = served.store.create_multipart(KEY)
    async with httpx.AsyncClient() as client:
        for number, data in enumerate(parts, start=1):
            assert (await put_part(client, served, upload_id, number, data)).status_code == 200
    uploaded = inodes(served.root / "multipart")
    served.store.complete_multipart(upload_id)
    whole = b"".join(parts)
    # S3 does not copy the bytes at complete; neither does the emulator: the parts are the
    # object's very files, and nothing else of its size was written
    assert len(uploaded) == 3 and uploaded <= inodes(served.root / "objects")
    assert len(whole) <= bytes_on_disk(served.root) < len(whole) + 4096
    first, last = MIN_PART_SIZE - 10, 2 * MIN_PART_SIZE + 9  # across both part boundaries
    async with httpx.AsyncClient() as client:
        url = served.store.presign("GET", KEY, origin=served.origin)
        ranged = await client.get(url, headers={"Range": f"bytes={first}-{last}"})
        tail = await client.get(url, headers={"Range": "bytes=-5"})
    assert ranged.status_code == 206
    assert ranged.content == whole[first : last + 1]
    assert ranged.headers["Content-Range"] == f"bytes {first}-{last}/{len(whole)}"
    assert tail.content == whole[-5:]
    assert served.store.size(KEY) == len(whole)
    assert served.store.exists(KEY)


async def test_objects_replace_each_other_whether_plain_or_from_parts(
    served: Store, tmp_path: Path
) -> None:
    parts = [os.urandom(MIN_PART_SIZE), os.urandom(10)]
    served.store.write_object(KEY, b"plain before")
    await completed(served, KEY, parts)
    with served.store.open_read(KEY) as stream:
        assert stream.read() == b"".join(parts)
    served.store.write_object(KEY, b"plain after")
    with served.store.open_read(KEY) as stream:
        assert stream.read() == b"plain after"
    async with httpx.AsyncClient() as client:
        response = await client.get(served.store.presign("GET", KEY, origin=served.origin))
    assert response.headers["ETag"] == f'"{hashlib.md5(b"plain after").hexdigest()}"'
    # the parts no object names any more go when the store opens next; named ones stay
    await completed(served, "other", parts)
    reopened = ObjectStore(served.root, faults=Faults(FaultConfig()))
    with reopened.open_read(KEY) as plain, reopened.open_read("other") as joined:
        assert (plain.read(), joined.read()) == (b"plain after", b"".join(parts))
    assert len(list(served.root.glob("objects/*/*.parts"))) == 1


async def test_a_complete_that_cannot_publish_leaves_the_upload_open(
    served: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = [os.urandom(MIN_PART_SIZE), os.urandom(10)]
    upload_id = served.store.create_multipart(KEY)
    async with httpx.AsyncClient() as client:
        for number, data in enumerate(parts, start=1):
            assert (await put_part(client, served, upload_id, number, data)).status_code == 200
    with monkeypatch.context() as patch:
        patch.setattr(Path, "symlink_to", lambda *_: (_ for _ in ()).throw(OSError(28, "full")))
        with pytest.raises(OSError, match="full"):
            served.store.complete_multipart(upload_id)
    assert not served.store.exists(KEY)
    served.store.complete_multipart(upload_id)  # the same upload, completed once it can be
    with served.store.open_read(KEY) as stream:
        assert stream.read() == b"".join(parts)


async def test_small_middle_part_is_entity_too_small_and_can_be_fixed(served: Store) -> None:
    upload_id = served.store.create_multipart(KEY)
    async with httpx.AsyncClient() as client:
        await put_part(client, served, upload_id, 1, b"a" * MIN_PART_SIZE)
        await put_part(client, served, upload_id, 2, b"b" * 1000)
        await put_part(client, served, upload_id, 3, b"c" * 10)
        with pytest.raises(StoreError) as caught:
            served.store.complete_multipart(upload_id)
        assert (caught.value.code, caught.value.status) == ("EntityTooSmall", 400)
        assert caught.value.fields["PartNumber"] == "2"
        assert not served.store.exists(KEY)
        # The upload stays open after a failed complete, as in S3.
        await put_part(client, served, upload_id, 2, b"b" * MIN_PART_SIZE)
    served.store.complete_multipart(upload_id)
    assert served.store.size(KEY) == 2 * MIN_PART_SIZE + 10


async def test_parts_must_be_contiguous_from_one(served: Store) -> None:
    upload_id = served.store.create_multipart(KEY)
    with pytest.raises(StoreError) as nothing:
        served.store.complete_multipart(upload_id)
    assert nothing.value.code == "InvalidPart"
    async with httpx.AsyncClient() as client:
        await put_part(client, served, upload_id, 1, b"a" * MIN_PART_SIZE)
        await put_part(client, served, upload_id, 3, b"c")
    with pytest.raises(StoreError) as gap:
        served.store.complete_multipart(upload_id)
    assert (gap.value.code, gap.value.fields["PartNumber"]) == ("InvalidPart", "2")


async def test_no_such_upload_after_complete_and_after_abort(served: Store) -> None:
    async with httpx.AsyncClient() as client:
        completed = served.store.create_multipart(KEY)
        stale_url = served.store.presign_part(completed, 1, origin=served.origin)
        await put_part(client, served, completed, 1, b"only part")
        served.store.complete_multipart(completed)

        aborted = served.store.create_multipart(KEY + ".2")
        aborted_url = served.store.presign_part(aborted, 1, origin=served.origin)
        await put_part(client, served, aborted, 1, b"part")
        served.store.abort_multipart(aborted)

        for upload_id, url in ((completed, stale_url), (aborted, aborted_url)):
            response = await client.put(url, content=b"late", headers={"Content-Type": ""})
            assert response.status_code == 404
            assert s3_error(response.content)[0] == "NoSuchUpload"
            for call in (served.store.complete_multipart, served.store.abort_multipart):
                with pytest.raises(StoreError) as caught:
                    call(upload_id)
                assert (caught.value.code, caught.value.status) == ("NoSuchUpload", 404)
            with pytest.raises(StoreError):
                served.store.presign_part(upload_id, 2, origin=served.origin)
    assert served.store.open_read(KEY).read() == b"only part"
    assert not served.store.exists(KEY + ".2")
    assert list((served.root / "multipart").iterdir()) == []


@pytest.mark.parametrize("number", [0, 10001, -1])
async def test_part_numbers_outside_1_to_10000_are_rejected(served: Store, number: int) -> None:
    upload_id = served.store.create_multipart(KEY)
    with pytest.raises(StoreError) as caught:
        served.store.presign_part(upload_id, number, origin=served.origin)
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)
    # The same number smuggled into a valid part URL is refused by the store as well.
    url = served.store.presign_part(upload_id, 10000, origin=served.origin)
    query = dict(parse_qsl(urlsplit(url).query), partNumber=str(number))
    async with httpx.AsyncClient() as client:
        response = await client.put(
            urlsplit(url)._replace(query=urlencode(query)).geturl(), content=b"x"
        )
    assert response.status_code == 400
    assert s3_error(response.content)[0] == "InvalidArgument"


@pytest.fixture
async def thousand(served: Store) -> tuple[Store, bytes, str]:
    data = os.urandom(1000)
    served.store.write_object(KEY, data)
    return served, data, served.store.presign("GET", KEY, origin=served.origin)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=900-", 900, 999),
        ("bytes=-100", 900, 999),
        ("bytes=990-5000", 990, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=999-999", 999, 999),
    ],
)
async def test_single_ranges(
    thousand: tuple[Store, bytes, str], header: str, first: int, last: int
) -> None:
    _, data, url = thousand
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers={"Range": header})
        head = await client.head(url, headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/1000"
    assert response.content == data[first : last + 1]
    assert int(response.headers["Content-Length"]) == last - first + 1
    assert (head.status_code, head.content) == (206, b"")
    assert head.headers["Content-Length"] == response.headers["Content-Length"]


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
async def test_unsatisfiable_range_is_416(thousand: tuple[Store, bytes, str], header: str) -> None:
    _, _, url = thousand
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */1000"
    assert s3_error(response.content)[0] == "InvalidRange"


@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=0-1,5-6", "items=0-1", "bytes=9-2", "bytes=-", "x" * 4000]
)
async def test_malformed_range_is_ignored_like_s3(
    thousand: tuple[Store, bytes, str], header: str
) -> None:
    _, data, url = thousand
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == data


async def test_get_headers_and_if_range(thousand: tuple[Store, bytes, str]) -> None:
    _, data, url = thousand
    async with httpx.AsyncClient() as client:
        full = await client.get(url)
        etag = full.headers["ETag"]
        matching = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
        changed = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert full.status_code == 200
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'
    assert full.headers["Content-Length"] == "1000"
    assert full.headers["Last-Modified"].endswith(" GMT")
    assert full.headers["Accept-Ranges"] == "bytes"
    assert (matching.status_code, matching.content) == (206, data[:10])
    assert (changed.status_code, changed.content) == (200, data)


async def test_empty_object(served: Store) -> None:
    async with httpx.AsyncClient() as client:
        put = await client.put(served.store.presign("PUT", KEY, origin=served.origin), content=b"")
        url = served.store.presign("GET", KEY, origin=served.origin)
        full = await client.get(url)
        ranged = await client.get(url, headers={"Range": "bytes=0-"})
    assert put.status_code == 200
    assert (full.status_code, full.content) == (200, b"")
    assert ranged.status_code == 416
