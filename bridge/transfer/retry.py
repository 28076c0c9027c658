"""When and how long to wait before trying a request again.

Shared by the storage transfers and the Imagen API client so both back off the
same way: exponential with jitter (so many clients that failed together do not
retry together), and never sooner than a server's ``Retry-After``.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Timeouts, refused or dropped connections and broken responses; not a bad URL, an
# unsupported scheme, a redirect loop or a body that cannot be decoded.
RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

_URL_QUERY = re.compile(r"(https?://[^\s?#'\"]*)\?[^\s'\"]*")


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try, and the bounds of the wait between tries (seconds)."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 300.0  # a server asking for longer than this is not waited for

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based).

        "Equal jitter": half the exponential step is fixed, half random, so the
        wait grows reliably but concurrent clients spread out. A ``Retry-After``
        from the server is a floor, capped at ``max_retry_after``.
        """
        step = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        wait = step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not crypto
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def redact_urls(text: str) -> str:
    """Drop query strings (presigned signatures) from any URL inside ``text``, for logs."""
    return _URL_QUERY.sub(r"\1?…", text)


class RedactUrls(logging.Filter):
    """Rewrites a record's message without URL query strings.

    httpx logs every request URL at INFO; for a presigned link that is a
    usable credential. Installed on the ``httpx`` logger by :func:`quiet_httpx`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def quiet_httpx() -> None:
    """Make sure httpx's own request log never shows a presigned URL in full (idempotent)."""
    target = logging.getLogger("httpx")
    if not any(isinstance(existing, RedactUrls) for existing in target.filters):
        target.addFilter(RedactUrls())
