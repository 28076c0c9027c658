"""The one exception type transfers raise, with what a caller needs to decide what next."""

from __future__ import annotations


class TransferError(Exception):
    """A file could not be moved to or from storage.

    ``retryable`` says whether trying the same transfer again later may help
    (the retries inside :class:`~bridge.transfer.Transfer` are already used up);
    ``link_expired`` says the presigned link is no longer valid, so a retry
    needs a fresh link. ``str()`` never contains a URL or a key.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        link_expired: bool = False,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.status = status
        self.code = code
        self.retryable = retryable
        self.link_expired = link_expired
