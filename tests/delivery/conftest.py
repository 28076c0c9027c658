"""Delivery tests: no delivery key or URL from the developer's shell; emulators as in
``tests/emulator_delivery``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator.support import jpeg_bytes
from tests.emulator_delivery.conftest import delivery_emulator, delivery_factory

__all__ = ["delivery_emulator", "delivery_factory"]

_VARIABLES = (
    "IMGWIRE_API_KEY",
    "IMAGEKIT_PRIVATE_KEY",
    "IMAGEN_BRIDGE_IMGWIRE_API_KEY",
    "IMAGEN_BRIDGE_IMGWIRE_BASE_URL",
    "IMAGEN_BRIDGE_IMAGEKIT_PRIVATE_KEY",
    "IMAGEN_BRIDGE_IMAGEKIT_BASE_URL",
    "IMAGEN_BRIDGE_IMAGEKIT_MAX_FILE_MB",
    "IMAGEN_BRIDGE_IMAGEKIT_CUSTOM_METADATA",
)


@pytest.fixture(autouse=True)
def _no_delivery_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("IMAGEN_EMULATOR_FAULT_"):
            monkeypatch.delenv(name, raising=False)
    yield


NAMES = [
    "DSC_0001.jpg",
    "Hochzeit Müller 02.jpg",
    "婚礼 03.jpg",
    "Strand 🌅 04.jpg",
    "with  two spaces.JPG",
    "a'quote\".jpeg",
]


@pytest.fixture
def exports(tmp_path: Path) -> list[Path]:
    """20 exported JPEGs with hostile and unicode names, each different."""
    folder = tmp_path / "Imagen Export"
    folder.mkdir()
    paths = []
    for index in range(20):
        stem = NAMES[index % len(NAMES)]
        path = folder / (f"{index:02d} {stem}")
        path.write_bytes(jpeg_bytes(index, (40 + index, 30)))
        paths.append(path)
    return paths
