"""How the Imgwire emulator behaves beyond the shared fault settings."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MAX_UPLOAD_BYTES = 2 * 2**30


@dataclass(frozen=True)
class ImgwireConfig:
    """``api_key`` None accepts any non-empty bearer key, as the Imagen emulator does."""

    api_key: str | None = field(default=None, repr=False)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES

    def __post_init__(self) -> None:
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("imgwire api_key must not be empty; use None to accept any key")
        if isinstance(self.max_upload_bytes, bool) or self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be positive, got {self.max_upload_bytes!r}")
