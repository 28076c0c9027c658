"""Delivery errors: refused before sending, rejected keys, failures in the service's words."""

from __future__ import annotations


class DeliveryError(Exception):
    """A delivery call failed.

    ``server_words`` is what the service itself said, when it said anything; ``retryable``
    says the same call may succeed later; ``ambiguous`` says the call may have taken effect
    although no success came back (a dropped connection, a 5xx after the body was sent), so
    a retry must first find out. Never contains a key or a signed URL.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        ambiguous: bool = False,
        retry_after: float | None = None,
        server_words: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after
        self.server_words = server_words


class DeliveryAuthError(DeliveryError):
    """The service rejected the key; the message names where the key was read from."""


class DeliveryRefused(DeliveryError):
    """The delivery cannot work as asked; found before anything was sent.

    ``problems`` lists every reason, each naming its file or option.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
