"""Why the engine refused a call; the server maps each to its HTTP status."""

from __future__ import annotations


class JobNotFound(LookupError):
    """No job (or photo) of that id (404)."""


class JobConflict(Exception):
    """The call contradicts the job's state or an earlier call (409)."""


class JobRequestError(ValueError):
    """The request as a whole cannot be run (422); ``path`` names the field."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    @property
    def details(self) -> list[dict[str, str]]:
        return [{"path": self.path, "message": str(self)}]
