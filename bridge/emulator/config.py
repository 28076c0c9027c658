"""How one emulator instance behaves (``EmulatorConfig``, re-exported by ``app``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bridge.emulator.faults import FaultConfig


@dataclass(frozen=True)
class EmulatorConfig:
    api_key: str | None = field(default=None, repr=False)  # None: any non-empty key
    envelope: Literal["bare", "data"] = "bare"
    status_case: Literal["title", "upper", "lower"] = "title"
    faults: FaultConfig = field(default_factory=FaultConfig)
    storage_dir: Path | None = None  # None: a temp dir removed on shutdown
    hdr_bracket_size: int = 3
    access_log: Path | None = None  # append a line per request here (see ``accesslog``)

    def __post_init__(self) -> None:
        if self.envelope not in ("bare", "data"):
            raise ValueError(f"envelope must be 'bare' or 'data', got {self.envelope!r}")
        if self.status_case not in ("title", "upper", "lower"):
            raise ValueError(
                f"status_case must be 'title', 'upper' or 'lower', got {self.status_case!r}"
            )
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty; use None to accept any key")
        if isinstance(self.hdr_bracket_size, bool) or not 2 <= self.hdr_bracket_size <= 9:
            raise ValueError(f"hdr_bracket_size must be 2..9, got {self.hdr_bracket_size!r}")
