"""Errors of the Imagen client: what failed, the HTTP status, and whether retrying helps."""

from __future__ import annotations


class ImagenError(Exception):
    """A call to Imagen failed.

    ``message`` is the full, user-facing text (also ``str(error)``);
    ``server_message`` is what the server itself said, when it said anything;
    ``retryable`` is True when the same call may succeed later (5xx, 429,
    network trouble) and False when it cannot without a change (4xx).
    Neither ever contains the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.server_message = server_message


class ImagenAuthError(ImagenError):
    """Imagen rejected the API key (401); the message names where the key was read from."""


class ImagenValidationError(ImagenError):
    """The request was refused before any network call: the input cannot work."""


class ImagenTimeoutError(ImagenError):
    """Waiting for a project gave up; the project may still finish, so polling later can help."""
