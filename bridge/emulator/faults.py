"""Fault injection for the emulator: latency, 429/500/503 answers and dropped connections.

Every decision is a pure function of (seed, what is asked, which request, the how-many-th time
that same request is seen), never a draw from one shared random stream. So concurrent
requests cannot steal each other's outcomes, a retry of a request gets a fresh decision, and
a failing test replays exactly under the same seed. "What is asked" leaves out the ids the
emulator invents at random (project UUIDs, multipart upload ids): a rerun gets new ones, and
must still meet the same faults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import re
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bridge.emulator.s3errors import StoreError, error_response

ENV_PREFIX = "IMAGEN_EMULATOR_FAULT_"
MAX_CONFIG_BYTES = 1 << 20
MAX_LINK_LIFETIME_S = 604800.0  # S3's limit for presigned URLs


class FaultConfigError(ValueError):
    """A fault setting that cannot be used; the message names the field (and its source)."""


@dataclass(frozen=True)
class FaultConfig:
    """What the emulator does wrong on purpose; the defaults do nothing wrong."""

    seed: int = 0
    latency_ms: float = 0.0  # added to every request
    rate_429: float = 0.0  # fraction of requests answered 429 + Retry-After
    rate_500: float = 0.0
    rate_503: float = 0.0
    retry_after_s: int = 1
    drop_upload_rate: float = 0.0  # fraction of storage PUTs whose connection drops mid-body
    drop_download_rate: float = 0.0  # fraction of storage GETs that drop mid-body
    # Fraction of delivery uploads (Imgwire, ImageKit) whose answer is lost after the upload
    # took effect: the client cannot tell whether it happened, the case "exactly once" is about.
    drop_response_rate: float = 0.0
    link_lifetime_s: float = 3600.0  # lifetime of presigned URLs
    processing_s: float = 2.0  # time an edit/export/i2i job takes Pending -> Completed
    fail_files: frozenset[str] = frozenset()  # file names whose editing fails

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check_type(field.name, getattr(self, field.name), type(field.default))
        for name in (
            "rate_429",
            "rate_500",
            "rate_503",
            "drop_upload_rate",
            "drop_download_rate",
            "drop_response_rate",
        ):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        if self.rate_429 + self.rate_500 + self.rate_503 > 1.0:
            raise FaultConfigError("rate_429 + rate_500 + rate_503 must not exceed 1")
        for name in ("latency_ms", "processing_s", "retry_after_s"):
            _check_range(name, getattr(self, name), 0.0, math.inf)
        if not 0 < self.link_lifetime_s <= MAX_LINK_LIFETIME_S:
            raise FaultConfigError(
                f"link_lifetime_s must be more than 0 and at most {MAX_LINK_LIFETIME_S:g} "
                f"seconds (S3's limit), got {self.link_lifetime_s}"
            )
        if any(not name for name in self.fail_files):
            raise FaultConfigError("fail_files must not contain an empty file name")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> FaultConfig:
        """Build from parsed JSON/TOML or a dict; unknown keys and bad values are errors."""
        known = {field.name for field in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                raise FaultConfigError(
                    f"unknown fault setting {name!r}; known: {', '.join(sorted(known))}"
                )
            if name == "fail_files" and isinstance(value, list | tuple | set | frozenset):
                value = frozenset(value)
            values[name] = value
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> FaultConfig:
        """Read a small flat ``.toml`` or ``.json`` file of fault settings."""
        suffix = path.suffix.lower()
        if suffix not in (".toml", ".json"):
            raise FaultConfigError(f"{path}: fault config must be a .toml or .json file")
        try:
            with path.open("rb") as stream:
                raw = stream.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise FaultConfigError(f"{path}: cannot read fault config: {exc.strerror}") from None
        if len(raw) > MAX_CONFIG_BYTES:
            raise FaultConfigError(f"{path}: fault config is larger than {MAX_CONFIG_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
            data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
        except ValueError as exc:  # the decode errors, and an integer of 4300+ digits
            raise FaultConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
        if not isinstance(data, dict):
            raise FaultConfigError(f"{path}: fault config must be a table/object of settings")
        try:
            return cls.from_mapping(data)
        except FaultConfigError as exc:
            raise FaultConfigError(f"{path}: {exc}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FaultConfig:
        """Read ``IMAGEN_EMULATOR_FAULT_<FIELD>`` variables (FAIL_FILES is comma separated)."""
        kinds = {field.name: type(field.default) for field in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for variable, text in environ.items():
            if not variable.startswith(ENV_PREFIX):
                continue
            name = variable[len(ENV_PREFIX) :].lower()
            if name not in kinds:
                raise FaultConfigError(
                    f"{variable} is not a fault setting; known: "
                    + ", ".join(ENV_PREFIX + known.upper() for known in sorted(kinds))
                )
            try:
                values[name] = _parse_text(name, text, kinds[name])
            except FaultConfigError as exc:
                raise FaultConfigError(f"{variable}: {exc}") from None
        try:
            return cls.from_mapping(values)
        except FaultConfigError as exc:
            raise FaultConfigError(f"environment ({ENV_PREFIX}*): {exc}") from None


def _parse_text(name: str, text: str, kind: type) -> object:
    if kind is frozenset:
        return frozenset(part.strip() for part in text.split(",") if part.strip())
    try:
        return int(text) if kind is int else float(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise FaultConfigError(f"{name} must be {noun}, got {text!r}") from None


def _check_type(name: str, value: object, kind: type) -> None:
    if kind is frozenset:
        if not isinstance(value, frozenset) or not all(isinstance(item, str) for item in value):
            raise FaultConfigError(f"{name} must be a list of file names, got {value!r}")
        return
    allowed: tuple[type, ...] = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        noun = "an integer" if kind is int else "a number"
        raise FaultConfigError(f"{name} must be {noun}, got {value!r}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f"between {low:g} and {high:g}" if math.isfinite(high) else f">= {low:g}"
        raise FaultConfigError(f"{name} must be {bounds}, got {value!r}")


_STORAGE_FAULTS = {
    429: ("TooManyRequests", "Too many requests; retry later (injected fault)."),
    500: ("InternalError", "We encountered an internal error. Please try again. (injected fault)"),
    503: ("SlowDown", "Please reduce your request rate. (injected fault)"),
}
_API_FAULTS = {
    429: "Too many requests; retry later (injected fault).",
    500: "Internal server error (injected fault).",
    503: "Service temporarily unavailable (injected fault).",
}


# Builds a service's own error answer for an injected fault: (status, message) -> response.
FaultAnswer = Callable[[int, str], web.Response]


class Faults:
    """Applies one ``FaultConfig``: the middleware for status faults, ``should_drop`` for drops."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._seen: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def middleware(self, answers: Mapping[str, FaultAnswer] | None = None) -> Middleware:
        """aiohttp middleware: latency, then maybe a 429/500/503 instead of the real answer.

        Error bodies are S3 XML under ``/storage``, the service's own shape under a path
        prefix of ``answers`` (the delivery emulators), and Imagen's ``{"error": {"message"}}``
        everywhere else. 429 and 503 carry ``Retry-After``.
        """
        answers = dict(answers or {})

        @web.middleware
        async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self.config.latency_ms > 0:
                await asyncio.sleep(self.config.latency_ms / 1000)
            status = self._status_for(request)
            if status is None:
                return await handler(request)
            headers = {}
            if status in (429, 503):
                headers["Retry-After"] = str(self.config.retry_after_s)
            if request.path == "/storage" or request.path.startswith("/storage/"):
                code, message = _STORAGE_FAULTS[status]
                return error_response(StoreError(status, code, message), headers=headers)
            for prefix, answer in answers.items():
                if request.path == prefix or request.path.startswith(prefix + "/"):
                    response = answer(status, _API_FAULTS[status])
                    response.headers.update(headers)
                    return response
            return web.json_response(
                {"error": {"message": _API_FAULTS[status]}}, status=status, headers=headers
            )

        return inject_faults

    def should_drop(self, kind: Literal["upload", "download"], key: str) -> bool:
        """Whether the store should cut this transfer's connection mid-body.

        ``key`` names the transfer (object key, plus the part number for multipart parts).
        """
        rate = self.config.drop_upload_rate if kind == "upload" else self.config.drop_download_rate
        return rate > 0 and self._draw("drop", kind, _without_invented_ids(key)) < rate

    def should_lose_response(self, key: str) -> bool:
        """Whether to drop the connection after this delivery upload took effect."""
        rate = self.config.drop_response_rate
        return rate > 0 and self._draw("lose", _without_invented_ids(key)) < rate

    def _status_for(self, request: web.Request) -> int | None:
        config = self.config
        if config.rate_429 + config.rate_500 + config.rate_503 == 0:
            return None
        # The request's identity: its path and the query minus the per-link signature fields,
        # so the parts of one multipart upload (same path) are told apart by partNumber.
        query = sorted(
            f"{name}={value}"
            for name, value in request.query.items()
            if not name.startswith("X-Amz-") and name != "uploadId"
        )
        draw = self._draw("status", request.method, _without_invented_ids(request.path), *query)
        for status, rate in (
            (429, config.rate_429),
            (500, config.rate_500),
            (503, config.rate_503),
        ):
            if draw < rate:
                return status
            draw -= rate
        return None

    def _draw(self, *identity: str) -> float:
        """A uniform number in [0, 1) for the n-th occurrence of ``identity`` under the seed."""
        with self._lock:
            occurrence = self._seen.get(identity, 0)
            self._seen[identity] = occurrence + 1
        material = json.dumps([self.config.seed, occurrence, *identity], ensure_ascii=True)
        digest = hashlib.sha256(material.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64


# A project UUID, or an upload id / other random token of 16+ hex digits, as a path segment.
_INVENTED_ID = re.compile(
    r"(?<![^/])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,})(?![^/])",
    re.IGNORECASE,
)


def _without_invented_ids(path: str) -> str:
    """``/storage/b/projects/<uuid>/uploads/a.jpg`` -> ``/storage/b/projects/*/uploads/a.jpg``."""
    return _INVENTED_ID.sub("*", path)
