"""Request validation as Imgwire's FastAPI server words it: every problem in one 422.

The schemas are ``StandardUploadCreateSchema``, ``UploadViaUrlCreateSchema`` and the
``image_ids`` lists of bulk delete and download jobs; messages and ``type`` codes follow
pydantic v2, which FastAPI reports as they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bridge.emulator.imgwire.errors import Invalid, Loc

MIME_TYPES = (
    "image/jpeg",
    "image/jxl",
    "image/png",
    "image/webp",
    "image/avif",
    "image/gif",
    "image/vnd.microsoft.icon",
    "image/heic",
    "image/bmp",
    "image/tiff",
)
MAX_TEXT = 255
MetadataValue = str | int | float | bool


@dataclass
class _Checker:
    """Collects problems so a request hears about all of them at once."""

    body: Mapping[str, object]
    problems: list[tuple[Loc, str, str]] = field(default_factory=list)

    def fail(self, name: str, msg: str, kind: str) -> None:
        self.problems.append((("body", name), msg, kind))

    def text(self, name: str, *, required: bool = False, bounded: bool = True) -> str | None:
        if name not in self.body or self.body[name] is None:
            if required:
                self.fail(name, "Field required", "missing")
            return None
        value = self.body[name]
        if not isinstance(value, str):
            self.fail(name, "Input should be a valid string", "string_type")
            return None
        if not value:
            self.fail(name, "String should have at least 1 character", "string_too_short")
            return None
        if bounded and len(value) > MAX_TEXT:
            self.fail(name, f"String should have at most {MAX_TEXT} characters", "string_too_long")
            return None
        return value

    def mime(self) -> str | None:
        value = self.body.get("mime_type")
        if value is None:
            return None
        if value not in MIME_TYPES:
            allowed = ", ".join(f"'{m}'" for m in MIME_TYPES[:-1]) + f" or '{MIME_TYPES[-1]}'"
            self.fail("mime_type", f"Input should be {allowed}", "enum")
            return None
        assert isinstance(value, str)
        return value

    def length(self) -> int | None:
        value = self.body.get("content_length")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("content_length", "Input should be a valid integer", "int_type")
            return None
        if value < 0:
            self.fail(
                "content_length", "Input should be greater than or equal to 0", "greater_than_equal"
            )
            return None
        return value

    def metadata(self) -> dict[str, MetadataValue]:
        value = self.body.get("custom_metadata", {})
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.fail("custom_metadata", "Input should be a valid dictionary", "dict_type")
            return {}
        good: dict[str, MetadataValue] = {}
        for key, item in value.items():
            if isinstance(item, str | int | float | bool):
                good[key] = item
            else:
                self.problems.append(
                    (
                        ("body", "custom_metadata", key),
                        "Input should be a valid string",
                        "string_type",
                    )
                )
        return good

    def done(self) -> None:
        if self.problems:
            raise Invalid(self.problems)


def _object(body: object) -> Mapping[str, object]:
    if not isinstance(body, dict):
        raise Invalid(
            [(("body",), "Input should be a valid dictionary or object", "model_attributes_type")]
        )
    return body


@dataclass(frozen=True)
class UploadRequest:
    file_name: str
    mime_type: str | None
    content_length: int | None
    custom_metadata: dict[str, MetadataValue]
    hash_sha256: str | None
    idempotency_key: str | None
    purpose: str | None
    url: str | None = None  # upload_via_url only


def standard_upload(body: object) -> UploadRequest:
    check = _Checker(_object(body))
    request = UploadRequest(
        file_name=check.text("file_name", required=True, bounded=False) or "",
        mime_type=check.mime(),
        content_length=check.length(),
        custom_metadata=check.metadata(),
        hash_sha256=check.text("hash_sha256"),
        idempotency_key=check.text("idempotency_key"),
        purpose=check.text("purpose"),
    )
    check.done()
    return request


def upload_via_url(body: object) -> UploadRequest:
    check = _Checker(_object(body))
    url = check.text("url", required=True, bounded=False)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            check.fail(
                "url", "Input should be a valid URL, relative URL without a base", "url_parsing"
            )
            url = None
    request = UploadRequest(
        file_name=check.text("file_name", bounded=False) or "",
        mime_type=check.mime(),
        content_length=None,
        custom_metadata=check.metadata(),
        hash_sha256=None,
        idempotency_key=check.text("idempotency_key"),
        purpose=check.text("purpose"),
        url=url,
    )
    check.done()
    return request


def image_ids(body: object) -> list[str]:
    """``{"image_ids": [uuid, ...]}`` with at least one id."""
    data = _object(body)
    value = data.get("image_ids")
    if value is None:
        raise Invalid([(("body", "image_ids"), "Field required", "missing")])
    if not isinstance(value, list):
        raise Invalid([(("body", "image_ids"), "Input should be a valid list", "list_type")])
    if not value:
        raise Invalid(
            [
                (
                    ("body", "image_ids"),
                    "List should have at least 1 item after validation, not 0",
                    "too_short",
                )
            ]
        )
    problems: list[tuple[Loc, str, str]] = []
    ids = []
    for index, item in enumerate(value):
        parsed = parse_uuid(item)
        if parsed is None:
            problems.append((("body", "image_ids", index), _UUID_MSG, "uuid_parsing"))
        else:
            ids.append(parsed)
    if problems:
        raise Invalid(problems)
    return list(dict.fromkeys(ids))


_UUID_MSG = (
    "Input should be a valid UUID, invalid character: expected an optional prefix of "
    "`urn:uuid:` followed by [0-9a-fA-F-]"
)


def parse_uuid(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def path_uuid(value: str, name: str) -> str:
    parsed = parse_uuid(value)
    if parsed is None:
        raise Invalid([(("path", name), _UUID_MSG, "uuid_parsing")])
    return parsed


def paging(query: Mapping[str, str]) -> tuple[int, int]:
    """``(page, limit)``: page >= 1 (default 1), limit 1..100 (default 20)."""
    problems: list[tuple[Loc, str, str]] = []
    values = {}
    for name, default, low, high in (("page", 1, 1, None), ("limit", 20, 1, 100)):
        raw = query.get(name)
        if raw is None:
            values[name] = default
            continue
        try:
            number = int(raw)
        except ValueError:
            problems.append(
                (
                    ("query", name),
                    "Input should be a valid integer, unable to parse string as an integer",
                    "int_parsing",
                )
            )
            continue
        if number < low:
            problems.append(
                (
                    ("query", name),
                    f"Input should be greater than or equal to {low}",
                    "greater_than_equal",
                )
            )
        elif high is not None and number > high:
            problems.append(
                (
                    ("query", name),
                    f"Input should be less than or equal to {high}",
                    "less_than_equal",
                )
            )
        values[name] = number
    if problems:
        raise Invalid(problems)
    return values["page"], values["limit"]
