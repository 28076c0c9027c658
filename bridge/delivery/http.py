"""One service's HTTP calls with the bridge's retry rules, shared by the Imgwire and ImageKit
clients.

Backoff is :class:`bridge.transfer.RetryPolicy` (jitter, ``Retry-After`` as a floor), so
delivery backs off like every other transfer. What may be repeated is the caller's call:
``repeatable`` calls (reads, idempotent creations) are retried on 429, 5xx and network
trouble; ``once`` calls are retried blindly only when the request provably never took
effect (not sent, or turned away with 429). After an ambiguous failure the caller's
``settle`` finds out whether the call took effect before anything is sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx

from bridge.delivery.errors import DeliveryAuthError, DeliveryError
from bridge.transfer import (
    RETRYABLE_ERRORS,
    RETRYABLE_STATUSES,
    RetryPolicy,
    parse_retry_after,
    redact_urls,
)
from bridge.transfer.files import SourceChangedError

_T = TypeVar("_T")
Safety = Literal["repeatable", "once"]

DELIVERY_RETRY = RetryPolicy(attempts=6, base_delay=0.25, max_delay=10.0)
MAX_BODY = 16 * 2**20
MAX_WORDS = 500
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise DeliveryError(f"the answer is not JSON: {words_of(self.body)}") from None


def check_key(key: str, *, service: str, source: str) -> str:
    """The key stripped, or a clear error (an empty key, a pasted space or curly quote)."""
    stripped = key.strip()
    if not stripped:
        raise DeliveryAuthError(f"The {service} key from {source} is empty.")
    if not _HEADER_SAFE.fullmatch(stripped):
        # httpx would raise an error whose text holds the whole key.
        raise DeliveryAuthError(
            f"The {service} key from {source} contains spaces or characters other than "
            "ASCII letters, digits and punctuation."
        )
    return stripped


def words_of(body: bytes) -> str:
    """The service's own words in an error body: Imgwire's ``detail`` (text or 422 list),
    ImageKit's ``message``, or the text itself, shortened."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    found: str | None = None
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, str):
            found = detail
        elif isinstance(detail, list):
            found = "; ".join(_problem(item) for item in detail)
        elif isinstance(data.get("message"), str):
            found = data["message"]
    found = " ".join((found or text).split())
    return found if len(found) <= MAX_WORDS else found[: MAX_WORDS - 1] + "…"


def _problem(item: object) -> str:
    if isinstance(item, dict) and "msg" in item:
        where = ".".join(str(part) for part in item.get("loc", []) if part != "body")
        return f"{where}: {item['msg']}" if where else str(item["msg"])
    return str(item)


class ServiceApi:
    """A pooled httpx client for one service plus its retry loop (:meth:`retrying`)."""

    def __init__(
        self,
        service: str,
        *,
        headers: Mapping[str, str],
        key_source: str,
        secret: str,
        retry: RetryPolicy = DELIVERY_RETRY,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 8,
        logger: logging.Logger | None = None,
        keyed: bool = True,
    ) -> None:
        self.service = service
        self._keyed = keyed
        self.key_source = key_source
        self._secret = secret
        self._retry = retry
        self._log = logger or logging.getLogger("bridge.delivery")
        self.client = httpx.AsyncClient(
            headers=dict(headers),
            timeout=timeout or httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=120.0),
            limits=httpx.Limits(max_connections=max_connections),
            follow_redirects=False,  # a redirect would carry the key wherever it points
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        content: Callable[[], AsyncIterator[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        label: str,
    ) -> Reply:
        """One try: a 2xx reply, or a DeliveryError saying whether retrying may help."""
        try:
            async with self.client.stream(
                method,
                url,
                json=json,
                params=params,
                content=content() if content is not None else None,
                headers=headers,
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise DeliveryError(f"{self.service} {label}: the answer is too large")
        except SourceChangedError as exc:
            raise DeliveryError(f"{label}: the file changed on disk ({exc})") from None
        except OSError as exc:  # reading the file being sent
            raise DeliveryError(f"{label}: cannot read the file ({exc.strerror or exc})") from None
        except (httpx.RequestError, httpx.InvalidURL) as exc:
            detail = self._redact(redact_urls(str(exc))) or "no details"
            raise DeliveryError(
                f"Could not reach {self.service} ({label}): {type(exc).__name__}: {detail}",
                retryable=isinstance(exc, RETRYABLE_ERRORS),
                ambiguous=not isinstance(exc, _NOT_SENT),
            ) from None
        reply = Reply(response.status_code, response.headers, bytes(body))
        if 200 <= reply.status < 300:
            return reply
        raise self._status_error(label, reply)

    def _status_error(self, label: str, reply: Reply) -> DeliveryError:
        said = self._redact(words_of(reply.body)) or (
            httpx.codes.get_reason_phrase(reply.status) or "no details"
        )
        if reply.status in (401, 403) and self._keyed:
            return DeliveryAuthError(
                f"{self.service} rejected the key read from {self.key_source} "
                f"(HTTP {reply.status}: {said}). Check the key there.",
                status=reply.status,
                server_words=said,
            )
        return DeliveryError(
            f"{self.service} {label} failed with HTTP {reply.status}: {said}",
            status=reply.status,
            retryable=reply.status in RETRYABLE_STATUSES,
            ambiguous=reply.status >= 500 or reply.status == 408,
            retry_after=parse_retry_after(reply.headers.get("Retry-After")),
            server_words=said,
        )

    async def retrying(
        self,
        label: str,
        attempt: Callable[[], Awaitable[_T]],
        *,
        safety: Safety = "repeatable",
        settle: Callable[[], Awaitable[_T | None]] | None = None,
    ) -> _T:
        """Run ``attempt`` until it succeeds, a failure is final, or the tries are used up.

        For a ``once`` call an ambiguous failure is retried only through ``settle``: it
        returns the call's result if the call took effect after all, or None to try again.
        """
        attempts = self._retry.attempts
        number = 0
        while True:
            number += 1
            try:
                return await attempt()
            except DeliveryError as error:
                if not error.retryable or number >= attempts:
                    raise
                if error.ambiguous and safety == "once":
                    if settle is None:
                        raise
                    settled = await settle()
                    if settled is not None:
                        self._log.warning(
                            "%s %s: the failed try had taken effect (%s)",
                            self.service, label, error.message,
                        )  # fmt: skip
                        return settled
                delay = self._retry.delay(number, error.retry_after)
                self._log.warning(
                    "%s %s failed (attempt %d of %d: %s); retrying in %.1f s",
                    self.service, label, number, attempts, error.message, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)

    async def call(self, method: str, url: str, *, label: str, **kwargs: Any) -> Reply:
        """A repeatable call with retries."""
        return await self.retrying(label, lambda: self.send(method, url, label=label, **kwargs))

    def _redact(self, text: str) -> str:
        return (
            text.replace(self._secret, "[key]") if self._secret and self._secret in text else text
        )
