"""The store's direct (non-HTTP) interface, used by the emulator's API side."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from bridge.emulator.faults import FaultConfig, Faults
from bridge.emulator.objectstore import ObjectStore, StoreError

from .conftest import Store


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "root", faults=Faults(FaultConfig()))


def test_write_read_size_digest(store: ObjectStore) -> None:
    key = "projects/p/outputs/IMG_1.xmp"
    assert not store.exists(key)
    store.write_object(key, b"<x:xmpmeta/>")
    assert store.exists(key)
    assert store.size(key) == 12
    with store.open_read(key) as stream:
        assert stream.read() == b"<x:xmpmeta/>"
    assert store.sha256(key) == hashlib.sha256(b"<x:xmpmeta/>").hexdigest()
    store.write_object(key, b"v2")
    assert store.sha256(key) == hashlib.sha256(b"v2").hexdigest()


def test_write_stream_is_atomic_and_streamed(store: ObjectStore, tmp_path: Path) -> None:
    key = "projects/p/outputs/big.jpg"
    store.write_object(key, b"old")

    def broken(sink: object) -> None:
        assert hasattr(sink, "write")
        sink.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("producer failed half-way")

    with pytest.raises(OSError, match="half-way"):
        store.write_stream(key, broken)
    with store.open_read(key) as stream:
        assert stream.read() == b"old"  # readers never see a half-written object

    chunks = [bytes([n]) * 65536 for n in range(40)]

    def produce(sink: object) -> None:
        for chunk in chunks:
            sink.write(chunk)  # type: ignore[attr-defined]

    store.write_stream(key, produce)
    assert store.sha256(key) == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert list((tmp_path / "root" / "tmp").iterdir()) == []  # no temp file left behind


def test_missing_key_is_no_such_key(store: ObjectStore) -> None:
    for call in (store.size, store.open_read, store.sha256):
        with pytest.raises(StoreError) as caught:
            call("nope")
        assert (caught.value.status, caught.value.code) == (404, "NoSuchKey")


@pytest.mark.parametrize("key", ["", "x" * 1025, "bad \udcff surrogate"])
def test_invalid_keys_are_value_errors(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        store.presign("PUT", key, origin="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="key"):
        store.write_object(key, b"")
    with pytest.raises(ValueError, match="key"):
        store.create_multipart(key)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "DELETE"}, "GET or PUT"),
        ({"origin": "ftp://127.0.0.1"}, "origin"),
        ({"origin": "http://127.0.0.1:8/v1"}, "origin"),
        ({"origin": "127.0.0.1:8"}, "origin"),
        ({"content_md5": "abc"}, "content_md5"),
        ({"method": "GET", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, "only applies to PUT"),
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": 604801}, "expires_in"),
    ],
)
def test_presign_refuses_bad_arguments(
    store: ObjectStore, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"method": "PUT", "origin": "http://127.0.0.1:8", **kwargs}
    with pytest.raises(ValueError, match=message):
        store.presign(arguments.pop("method"), "k", **arguments)  # type: ignore[arg-type]


def test_objects_survive_a_restart_and_leftovers_are_cleared(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = ObjectStore(root, faults=Faults(FaultConfig()))
    first.write_object("kept", b"data")
    upload_id = first.create_multipart("half")
    (root / "tmp" / "crashed.tmp").write_bytes(b"partial")

    second = ObjectStore(root, faults=Faults(FaultConfig()))
    assert second.open_read("kept").read() == b"data"
    assert list((root / "tmp").iterdir()) == []
    assert list((root / "multipart").iterdir()) == []
    with pytest.raises(StoreError, match="NoSuchUpload"):
        second.complete_multipart(upload_id)


async def test_links_from_another_store_do_not_verify(served: Store, tmp_path: Path) -> None:
    other = ObjectStore(tmp_path / "other", faults=Faults(FaultConfig()))
    served.store.write_object("k", b"x")
    async with httpx.AsyncClient() as client:
        foreign = await client.get(other.presign("GET", "k", origin=served.origin))
        own = await client.get(served.store.presign("GET", "k", origin=served.origin))
    assert (foreign.status_code, own.status_code) == (403, 200)


async def test_stale_etag_record_is_recomputed(served: Store) -> None:
    served.store.write_object("k", b"content")
    record = next(path for path in served.root.rglob("*.etag"))
    record.write_text("1 2 3 bogus")
    async with httpx.AsyncClient() as client:
        response = await client.get(served.store.presign("GET", "k", origin=served.origin))
    assert response.headers["ETag"] == f'"{hashlib.md5(b"content").hexdigest()}"'
    assert response.content == b"content"
