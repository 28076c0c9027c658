"""An S3-like object store on disk, served under ``/storage/<bucket>/<key>`` via presigned URLs.

It behaves like the S3 behind Imagen's links, so the real client and the official SDK meet
the same rules: query-signed URLs with an empty signed ``Content-Type``, ``Content-Length``
required (no chunked bodies), ``Content-MD5`` checked, multipart uploads with S3's part
rules, single-range GETs and S3's XML error bodies.

Bodies are streamed in ``CHUNK``-sized pieces and never held whole in memory; their disk
reads and writes run in worker threads, so a slow disk never stalls the event loop. An
upload is written to a temp file and renamed into place only when complete and verified, so
a dropped connection never leaves a partial object. On disk an object is named by the
SHA-256 of its key, so no key, however hostile, can reach outside ``root``. A completed
multipart object is its parts directory, moved beside the objects and published as a
symlink in the object's place (S3 does not copy the bytes either); a directory no object
names any more (one overwritten) is removed when the store opens next.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import io
import os
import secrets
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import quote, unquote, urlencode, urlsplit

from aiohttp import HttpVersion11, web

from bridge.emulator.accesslog import unanswered
from bridge.emulator.concat import Concatenation
from bridge.emulator.faults import Faults
from bridge.emulator.ranges import parse_range
from bridge.emulator.s3errors import StoreError, error_response, new_request_id
from bridge.emulator.signing import QuerySigner

__all__ = ["BUCKET", "MAX_OBJECT_SIZE", "MAX_PARTS", "MIN_PART_SIZE", "ObjectStore", "StoreError"]

BUCKET = "imagen-emulator"
CHUNK = 256 * 1024
MAX_OBJECT_SIZE = 5 * 2**30  # S3's limit for one PUT (and for one part)
MIN_PART_SIZE = 5 * 2**20  # every part but the last
MAX_PARTS = 10000
MAX_KEY_BYTES = 1024
DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 serves when none was stored

_ETAG_FILE = "etag"  # beside the parts (named by number) of a completed multipart object
_PARTS_SUFFIX = ".parts"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class _Part:
    size: int
    md5: bytes


@dataclass
class _Upload:
    key: str
    directory: Path
    parts: dict[int, _Part] = field(default_factory=dict)
    completing: bool = False


@dataclass(frozen=True)
class _PutPlan:
    """A PUT whose headers passed every check; only its body is still to come."""

    key: str
    length: int
    md5: bytes | None
    part: tuple[str, int] | None  # (upload id, part number) for a multipart part


@dataclass
class _Stored:
    """An object opened for reading: its bytes, size, time, and ETag when recorded with it."""

    stream: BinaryIO
    size: int
    mtime: float
    etag: str | None  # None: a plain file's, looked up (or computed) by ``_etag``


class _Dropped(ConnectionError):
    """The store cut the connection on purpose (fault injection, a reader that stalled)."""


class ObjectStore:
    """Objects under ``root``; presigns URLs and serves them through ``routes()``.

    The synchronous methods are thread-safe, so the API side may run the slow ones
    (``complete_multipart``, ``abort_multipart``, ``sha256``) in ``asyncio.to_thread``.
    """

    def __init__(
        self,
        root: Path,
        *,
        faults: Faults,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        max_object_size: int = MAX_OBJECT_SIZE,
        idle_timeout: float = 60.0,
    ) -> None:
        self._faults = faults
        self._signer = QuerySigner(secret if secret is not None else secrets.token_bytes(32))
        self._clock = clock
        self._max_object_size = max_object_size
        self._idle_timeout = idle_timeout
        self._objects = root / "objects"
        self._temp = root / "tmp"
        self._multipart = root / "multipart"
        # Temp files and multipart parts of an earlier run belong to nothing any more.
        for leftovers in (self._temp, self._multipart):
            shutil.rmtree(leftovers, ignore_errors=True)
        for directory in (self._objects, self._temp, self._multipart):
            directory.mkdir(parents=True, exist_ok=True)
        _remove_unnamed_parts(self._objects)
        self._uploads: dict[str, _Upload] = {}
        self._lock = threading.Lock()

    # ---- presigning -------------------------------------------------------------------

    def presign(
        self,
        method: Literal["GET", "PUT"],
        key: str,
        *,
        origin: str,
        expires_in: float | None = None,
        content_md5: str | None = None,
    ) -> str:
        """A URL to GET (or HEAD) or PUT ``key`` until it expires.

        ``content_md5`` (base64, as in the ``Content-MD5`` header) binds a PUT to that body.
        """
        if method not in ("GET", "PUT"):
            raise ValueError(f"presigned URLs are for GET or PUT, not {method!r}")
        _require_valid_key(key)
        headers = {"content-type": ""}
        if content_md5 is not None:
            if method != "PUT":
                raise ValueError("content_md5 only applies to PUT URLs")
            try:
                _decode_md5(content_md5)
            except StoreError:
                raise ValueError(
                    f"content_md5 must be the base64 of a 16-byte MD5 digest, got {content_md5!r}"
                ) from None
            headers["content-md5"] = content_md5.strip()
        return self._url(method, key, origin, expires_in, {}, headers)

    def presign_part(
        self, upload_id: str, part_number: int, *, origin: str, expires_in: float | None = None
    ) -> str:
        """A PUT URL for part ``part_number`` (1..10000) of a multipart upload."""
        if isinstance(part_number, bool) or not 1 <= part_number <= MAX_PARTS:
            raise _bad_part_number(str(part_number))
        upload = self._upload(upload_id)
        params = {"partNumber": str(part_number), "uploadId": upload_id}
        return self._url("PUT", upload.key, origin, expires_in, params, {"content-type": ""})

    def _url(
        self,
        method: str,
        key: str,
        origin: str,
        expires_in: float | None,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> str:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"origin must look like http://127.0.0.1:8080, got {origin!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"origin must not carry a path or query, got {origin!r}")
        query = self._signer.sign(
            method,
            BUCKET,
            key,
            now=self._clock(),
            expires_in=self._faults.config.link_lifetime_s if expires_in is None else expires_in,
            params=params,
            headers=headers,
        )
        path = f"/storage/{BUCKET}/{_quote_key(key)}"
        return f"{parts.scheme}://{parts.netloc}{path}?{urlencode(query, quote_via=quote)}"

    # ---- multipart --------------------------------------------------------------------

    def create_multipart(self, key: str) -> str:
        """Start a multipart upload of ``key``; returns its upload id."""
        _require_valid_key(key)
        upload_id = secrets.token_hex(16)
        directory = self._multipart / upload_id
        directory.mkdir()
        with self._lock:
            self._uploads[upload_id] = _Upload(key, directory)
        return upload_id

    def complete_multipart(self, upload_id: str) -> None:
        """Assemble the uploaded parts into the object (streamed), as S3's complete does.

        Raises ``StoreError``: ``NoSuchUpload``; ``InvalidPart`` when no parts or a gap in
        1..N; ``EntityTooSmall`` when a part other than the last is under 5 MiB. A failed
        complete leaves the upload open, so the caller may fix parts and complete again.
        """
        with self._lock:
            upload = self._open_upload(upload_id)
            parts = dict(upload.parts)
            _check_parts(upload_id, parts)
            upload.completing = True
        numbers = sorted(parts)
        try:
            combined = hashlib.md5(b"".join(parts[n].md5 for n in numbers), usedforsecurity=False)
            (upload.directory / _ETAG_FILE).write_text(f"{combined.hexdigest()}-{len(numbers)}")
            self._publish_parts(upload.directory, upload.key)
        except BaseException:
            with self._lock:
                upload.completing = False
            raise
        with self._lock:
            del self._uploads[upload_id]

    def abort_multipart(self, upload_id: str) -> None:
        """Discard a multipart upload and its parts; ``NoSuchUpload`` if it is not open."""
        with self._lock:
            upload = self._open_upload(upload_id)
            del self._uploads[upload_id]
        shutil.rmtree(upload.directory, ignore_errors=True)

    def _upload(self, upload_id: str) -> _Upload:
        with self._lock:
            return self._open_upload(upload_id)

    def _open_upload(self, upload_id: str) -> _Upload:
        """The upload, if open (neither completed, aborted nor completing); hold the lock."""
        upload = self._uploads.get(upload_id)
        if upload is None or upload.completing:
            raise _no_such_upload(upload_id)
        return upload

    # ---- direct access for the emulator itself -----------------------------------------

    def exists(self, key: str) -> bool:
        path = self._object_path(key)
        return path.is_file() or path.is_symlink()

    def size(self, key: str) -> int:
        stored = self._open(key)
        stored.stream.close()
        return stored.size

    def open_read(self, key: str) -> BinaryIO:
        """The object's bytes as a binary file; the caller closes it."""
        return self._open(key).stream

    def _open(self, key: str) -> _Stored:
        path = self._object_path(key)
        try:
            home = path.parent / path.readlink()
        except FileNotFoundError:
            raise _no_such_key(key) from None
        except OSError:  # not a link: a plain file
            try:
                stream = path.open("rb")
            except FileNotFoundError:  # replaced just now by a link, or removed
                raise _no_such_key(key) from None
            stat = os.fstat(stream.fileno())
            return _Stored(stream, stat.st_size, stat.st_mtime, None)
        # a parts directory is never changed once published, and stays while the store is open
        parts = sorted(p for p in home.iterdir() if p.name != _ETAG_FILE)
        concatenation = Concatenation(parts, [p.stat().st_size for p in parts])
        return _Stored(
            io.BufferedReader(concatenation, CHUNK),
            concatenation.size,
            os.lstat(path).st_mtime,
            (home / _ETAG_FILE).read_text(),
        )

    def sha256(self, key: str) -> str:
        """Hex SHA-256 of the object, read in chunks."""
        with self.open_read(key) as stream:
            return _file_digest(stream, "sha256")

    def write_object(self, key: str, data: bytes) -> None:
        """Store ``data`` as ``key`` atomically (readers see the old or the new object)."""
        self.write_stream(key, lambda sink: sink.write(data))

    def write_stream(self, key: str, produce: Callable[[BinaryIO], object]) -> None:
        """Store what ``produce`` writes to the sink it is given, atomically and streamed.

        Large outputs (a 600 MB JPEG with new XMP) go to disk as they are made, never whole
        in memory; the ETag is digested from the finished temp file.
        """
        _require_valid_key(key)
        temp = self._new_temp()
        try:
            with temp.open("xb+") as sink:
                produce(sink)
                sink.flush()
                sink.seek(0)
                etag = _file_digest(sink, "md5")
            self._publish(temp, key, etag)
        finally:
            temp.unlink(missing_ok=True)

    # ---- disk layout ------------------------------------------------------------------

    def _object_path(self, key: str) -> Path:
        _require_valid_key(key)
        name = hashlib.sha256(key.encode()).hexdigest()
        return self._objects / name[:2] / name

    def _new_temp(self) -> Path:
        return self._temp / f"{secrets.token_hex(12)}.tmp"

    def _publish_parts(self, directory: Path, key: str) -> None:
        """Make the parts in ``directory`` the object ``key``, by a link swapped into place."""
        path = self._object_path(key)
        path.parent.mkdir(exist_ok=True)
        home = path.with_name(f"{path.name}.{secrets.token_hex(8)}{_PARTS_SUFFIX}")
        directory.replace(home)
        link = self._new_temp()
        try:
            link.symlink_to(home.name)  # relative: resolved beside the object, where it goes
            link.replace(path)
        except BaseException:
            link.unlink(missing_ok=True)
            home.replace(directory)  # the upload stays open, as after any failed complete
            raise

    def _publish(self, temp: Path, key: str, etag: str) -> None:
        """Move a finished temp file into place and record its ETag beside it."""
        path = self._object_path(key)
        path.parent.mkdir(exist_ok=True)
        stat = temp.stat()  # a rename keeps inode, size and mtime: they identify this content
        temp.replace(path)
        record = self._new_temp()
        record.write_text(f"{stat.st_ino} {stat.st_size} {stat.st_mtime_ns} {etag}")
        record.replace(_etag_path(path))

    def _etag(self, path: Path, stream: BinaryIO) -> str:
        """The ETag recorded for exactly this open file, or its MD5 when the record is stale.

        The record goes stale only when two writers of one key race, or after a crash.
        """
        stat = os.fstat(stream.fileno())
        try:
            ino, size, mtime, etag = _etag_path(path).read_text().split()
            if (int(ino), int(size), int(mtime)) == (stat.st_ino, stat.st_size, stat.st_mtime_ns):
                return etag
        except (OSError, ValueError):
            pass
        etag = _file_digest(stream, "md5")
        stream.seek(0)
        return etag

    # ---- HTTP -------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """Handlers for ``/storage/...``; mount them with ``Faults.middleware()``."""
        path = "/storage/{bucket}/{key:.+}"
        return [
            web.put(path, self._guarded(self._handle_put), expect_handler=self._expect_put),
            web.get(path, self._guarded(self._handle_get)),  # HEAD as well
            web.route("*", path, self._guarded(self._handle_other_method)),
            web.route("*", "/storage{tail:(/.*)?}", self._guarded(self._handle_not_an_object)),
        ]

    def _guarded(self, handler: _Handler) -> _Handler:
        """Answer ``StoreError`` with S3's XML; end quietly when the connection is gone."""

        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except StoreError as error:
                return error_response(error)
            except ConnectionError:
                if request.transport is not None:
                    request.transport.abort()
                unanswered(request)
                return web.Response()  # never reaches anyone: aiohttp sees the reset

        return guarded

    async def _expect_put(self, request: web.Request) -> web.StreamResponse | None:
        """Refuse a bad PUT before the client sends its body, as S3 does for ``Expect``.

        A good one gets the interim "100 Continue", written the way aiohttp documents for a
        custom ``expect_handler`` (its default handler is private).
        """
        try:
            self._check_put(request)
        except StoreError as error:
            response = error_response(error)
            response.force_close()  # the body will not follow: the connection is spent
            return response
        if request.version == HttpVersion11:
            expect = request.headers["Expect"]
            if expect.lower() != "100-continue":
                raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect[:100]}")
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    def _check_put(self, request: web.Request) -> _PutPlan:
        key, query = _target(request)
        part = _part_params(query)
        md5 = _header_md5(request)
        self._signer.verify(
            "PUT", BUCKET, key, now=self._clock(), query=query, headers=request.headers
        )
        length = request.content_length
        if length is None or "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise StoreError(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        if length > self._max_object_size:
            raise StoreError(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=length,
                MaxSizeAllowed=self._max_object_size,
            )
        if part is not None and self._upload(part[0]).key != key:
            raise _no_such_upload(part[0])
        return _PutPlan(key, length, md5, part)

    async def _handle_put(self, request: web.Request) -> web.StreamResponse:
        plan = self._check_put(request)
        transfer = plan.key if plan.part is None else f"{plan.key}?partNumber={plan.part[1]}"
        drop = self._faults.should_drop("upload", transfer)
        temp = self._new_temp()
        try:
            md5 = await self._receive(request, plan, temp, drop)
            if plan.part is None:
                await asyncio.to_thread(self._publish, temp, plan.key, md5.hex())
            else:
                await asyncio.to_thread(self._store_part, temp, *plan.part, _Part(plan.length, md5))
        finally:
            temp.unlink(missing_ok=True)
        return web.Response(
            headers={"ETag": f'"{md5.hex()}"', "x-amz-request-id": new_request_id()}
        )

    async def _receive(self, request: web.Request, plan: _PutPlan, temp: Path, drop: bool) -> bytes:
        """Stream the body into ``temp``; returns its MD5 once length and digest check out."""
        digest = hashlib.md5(usedforsecurity=False)  # S3's ETag and Content-MD5 are MD5
        received = 0
        cut_at = plan.length // 2 if drop and plan.length else None
        with temp.open("xb") as sink:
            while True:
                try:
                    async with asyncio.timeout(self._idle_timeout):
                        chunk = await request.content.read(CHUNK)
                except TimeoutError:
                    raise _request_timeout() from None
                if not chunk:
                    break
                await asyncio.to_thread(_absorb, chunk, sink, digest.update)
                received += len(chunk)
                if cut_at is not None and received >= cut_at:
                    _cut(request)
        if received != plan.length:
            raise StoreError(
                400,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length "
                "HTTP header.",
            )
        if plan.md5 is not None and digest.digest() != plan.md5:
            raise StoreError(
                400, "BadDigest", "The Content-MD5 you specified did not match what we received."
            )
        return digest.digest()

    def _store_part(self, temp: Path, upload_id: str, number: int, part: _Part) -> None:
        # Under the lock, so an abort or complete cannot slip between the check and the rename.
        with self._lock:
            upload = self._open_upload(upload_id)
            temp.replace(upload.directory / _part_name(number))
            upload.parts[number] = part

    async def _handle_get(self, request: web.Request) -> web.StreamResponse:
        key, query = _target(request)
        # HEAD is accepted on a GET link (S3 would want a HEAD-signed one): it is read-only.
        self._signer.verify(
            "GET", BUCKET, key, now=self._clock(), query=query, headers=request.headers
        )
        stored = self._open(key)
        with stored.stream:
            return await self._send(request, key, stored)

    async def _send(self, request: web.Request, key: str, stored: _Stored) -> web.StreamResponse:
        stream, size = stored.stream, stored.size
        if stored.etag is None:
            stored.etag = await asyncio.to_thread(self._etag, self._object_path(key), stream)
        etag = f'"{stored.etag}"'
        last_modified = formatdate(stored.mtime, usegmt=True)
        if_range = request.headers.get("If-Range")
        try:
            wanted = (
                parse_range(request.headers.get("Range"), size)
                if if_range is None or if_range in (etag, last_modified)
                else None
            )
        except StoreError as error:
            return error_response(error, headers={"Content-Range": f"bytes */{size}"})
        first, last = wanted or (0, size - 1)
        response = web.StreamResponse(
            status=200 if wanted is None else 206,
            headers={
                "ETag": etag,
                "Last-Modified": last_modified,
                "Accept-Ranges": "bytes",
                "Content-Type": DEFAULT_CONTENT_TYPE,
                "x-amz-request-id": new_request_id(),
            },
        )
        if wanted is not None:
            response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1
        response.content_length = length
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        cut_at = length // 2 if length and self._faults.should_drop("download", key) else None
        stream.seek(first)
        sent = 0
        while sent < length:
            chunk = await asyncio.to_thread(stream.read, min(CHUNK, length - sent))
            if not chunk:
                break  # cannot happen for our own files: they are replaced, never truncated
            if cut_at is not None and sent + len(chunk) > cut_at:
                await response.write(chunk[: cut_at - sent])
                _cut(request)
            try:
                async with asyncio.timeout(self._idle_timeout):
                    await response.write(chunk)
            except TimeoutError:
                _cut(request)  # the reader stopped reading: free the connection
            sent += len(chunk)
        await response.write_eof()
        return response

    async def _handle_other_method(self, request: web.Request) -> web.StreamResponse:
        raise StoreError(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            Method=request.method[:20],
            ResourceType="OBJECT",
        )

    async def _handle_not_an_object(self, request: web.Request) -> web.StreamResponse:
        bucket = request.match_info["tail"].strip("/").split("/")[0]
        if bucket and bucket != BUCKET:
            raise _no_such_bucket(bucket)
        raise StoreError(
            400,
            "InvalidRequest",
            f"This store serves objects only: /storage/{BUCKET}/<key> via presigned URLs.",
        )


# ---- request parsing --------------------------------------------------------------------


def _target(request: web.Request) -> tuple[str, dict[str, str]]:
    """The object key (decoded from the raw path) and the single-valued query parameters."""
    prefix = f"/storage/{BUCKET}/"
    raw = request.rel_url.raw_path
    if not raw.startswith(prefix):
        raise _no_such_bucket(unquote(raw.split("/")[2]))
    try:
        key = unquote(raw[len(prefix) :], errors="strict")
    except UnicodeDecodeError:
        raise StoreError(400, "InvalidURI", "Couldn't parse the specified URI.") from None
    error = _key_error(key)
    if error is not None:
        raise error
    query: dict[str, str] = {}
    for name, value in request.query.items():
        if name in query:
            raise StoreError(
                400,
                "InvalidArgument",
                "A query parameter appears more than once.",
                ArgumentName=name[:100],
            )
        query[name] = value
    return key, query


def _part_params(query: Mapping[str, str]) -> tuple[str, int] | None:
    upload_id = query.get("uploadId")
    number = query.get("partNumber")
    if upload_id is None and number is None:
        return None
    if upload_id is None or number is None:
        raise StoreError(400, "InvalidRequest", "partNumber and uploadId must be given together.")
    if not (number.isascii() and number.isdigit() and len(number) <= 5):
        raise _bad_part_number(number)
    if not 1 <= int(number) <= MAX_PARTS:
        raise _bad_part_number(number)
    return upload_id, int(number)


def _header_md5(request: web.Request) -> bytes | None:
    """The Content-MD5 header's digest; S3 checks it whether or not the URL signed it."""
    value = request.headers.get("Content-MD5")
    return None if value is None else _decode_md5(value)


def _decode_md5(value: str) -> bytes:
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise StoreError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
    return digest


def _key_error(key: str) -> StoreError | None:
    if not key:
        return StoreError(400, "InvalidURI", "The object key must not be empty.")
    try:
        encoded = key.encode()
    except UnicodeEncodeError:
        return StoreError(400, "InvalidURI", "The object key must be valid Unicode.")
    if len(encoded) > MAX_KEY_BYTES:
        return StoreError(
            400, "KeyTooLongError", f"Your key is too long: at most {MAX_KEY_BYTES} bytes of UTF-8."
        )
    return None


def _require_valid_key(key: str) -> None:
    error = _key_error(key)
    if error is not None:
        raise ValueError(error.message)


def _quote_key(key: str) -> str:
    """The key as URL path segments; dot segments are escaped so clients do not resolve them."""
    segments = (quote(segment, safe="") for segment in key.split("/"))
    return "/".join(s.replace(".", "%2E") if s in (".", "..") else s for s in segments)


def _check_parts(upload_id: str, parts: Mapping[int, _Part]) -> None:
    if not parts:
        raise StoreError(
            400, "InvalidPart", "No part of this upload has been uploaded.", UploadId=upload_id
        )
    numbers = sorted(parts)
    for expected, number in enumerate(numbers, start=1):
        if number != expected:
            raise StoreError(
                400,
                "InvalidPart",
                f"Part {expected} was never uploaded: parts must be numbered 1, 2, 3, ... "
                "without gaps.",
                UploadId=upload_id,
                PartNumber=expected,
            )
    for number in numbers[:-1]:
        if parts[number].size < MIN_PART_SIZE:
            raise StoreError(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
                UploadId=upload_id,
                PartNumber=number,
                ProposedSize=parts[number].size,
                MinSizeAllowed=MIN_PART_SIZE,
            )


def _remove_unnamed_parts(objects: Path) -> None:
    """Parts directories no object links to any more (overwritten, or a crash mid-publish)."""
    named = {link.parent / link.readlink() for link in objects.glob("*/*") if link.is_symlink()}
    for home in objects.glob(f"*/*{_PARTS_SUFFIX}"):
        if home not in named:
            shutil.rmtree(home, ignore_errors=True)


def _absorb(chunk: bytes, sink: BinaryIO, digest: Callable[[bytes], object]) -> None:
    sink.write(chunk)
    digest(chunk)


def _file_digest(stream: BinaryIO, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _part_name(number: int) -> str:
    return f"{number:05d}"


def _etag_path(path: Path) -> Path:
    return path.with_name(path.name + ".etag")


def _cut(request: web.Request) -> None:
    """Drop the connection mid-body, the way a flaky network would."""
    if request.transport is not None:
        request.transport.abort()
    raise _Dropped("connection dropped")


def _bad_part_number(value: str) -> StoreError:
    return StoreError(
        400,
        "InvalidArgument",
        f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive",
        ArgumentName="partNumber",
        ArgumentValue=value[:50],
    )


def _no_such_upload(upload_id: str) -> StoreError:
    return StoreError(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
        UploadId=upload_id[:100],
    )


def _no_such_key(key: str) -> StoreError:
    return StoreError(404, "NoSuchKey", "The specified key does not exist.", Key=key)


def _no_such_bucket(bucket: str) -> StoreError:
    return StoreError(
        404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket[:100]
    )


def _request_timeout() -> StoreError:
    return StoreError(
        400,
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within the "
        "timeout period. Idle connections will be closed.",
    )
