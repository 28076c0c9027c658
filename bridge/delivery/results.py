"""What one delivery produced: the record a caller persists (the job store, ``--json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Target = Literal["imgwire", "imagekit"]


@dataclass(frozen=True)
class DeliveryResult:
    """``ok`` means the file is there and final (Imgwire ``READY``, ImageKit stored).

    ``remote_id`` is Imgwire's image id or ImageKit's fileId; ``status`` is the service's
    own final word (``READY``, ``QUARANTINE``, ``stored``) or ``failed``; ``changes`` says
    what the target's rules changed before sending (a renamed file, a folder).
    """

    target: Target
    source: str
    ok: bool
    status: str
    file_name: str
    remote_id: str | None = None
    remote_path: str | None = None
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    idempotency_key: str | None = None
    metadata: dict[str, str | int] = field(default_factory=dict)
    changes: tuple[str, ...] = ()
    error: str | None = None
    # Found at the target (an earlier delivery, or a try whose answer was lost) rather than
    # confirmed by this upload's own answer; nothing was stored twice either way.
    already_there: bool = False

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["changes"] = list(self.changes)
        return data
