"""Every test runs with its own config and data dirs and no API key from the developer's shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("IMAGEN_BRIDGE_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("IMAGEN_BRIDGE_DATA_DIR", str(home / "data"))
    for name in ("IMAGEN_API_KEY", "IMAGEN_BRIDGE_API_KEY", "IMAGEN_BRIDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the checkout: reference data and sample sidecars."""
    if not SHARED.is_dir():
        pytest.fail(f"shared/ not found at {SHARED}; the checkout must sit beside it")
    return SHARED
