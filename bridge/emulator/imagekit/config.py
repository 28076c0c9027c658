"""How the ImageKit emulator behaves beyond the shared fault settings."""

from __future__ import annotations

from dataclasses import dataclass, field

FREE_PLAN_MAX_BYTES = 25 * 2**20  # ImageKit's free plan: 25 MB per image


@dataclass(frozen=True)
class ImagekitConfig:
    """``private_key`` None accepts any non-empty key (the Basic auth user name).

    ``custom_metadata_fields`` None accepts any field; a set makes unknown fields a 400, as
    an account whose fields were never created through the custom-metadata-fields API.
    """

    private_key: str | None = field(default=None, repr=False)
    max_file_size: int = FREE_PLAN_MAX_BYTES
    custom_metadata_fields: frozenset[str] | None = None
    url_endpoint: str = "https://ik.imagekit.io/emulator"

    def __post_init__(self) -> None:
        if self.private_key is not None and not self.private_key.strip():
            raise ValueError("imagekit private_key must not be empty; use None to accept any key")
        if isinstance(self.max_file_size, bool) or self.max_file_size < 1:
            raise ValueError(f"max_file_size must be positive, got {self.max_file_size!r}")
