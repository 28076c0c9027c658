"""Emulators for the delivery tests: fast processing, no faults unless a test asks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from bridge.emulator.app import EmulatorConfig, RunningEmulator, running_emulator
from bridge.emulator.faults import FaultConfig
from bridge.emulator.imagekit import ImagekitConfig
from bridge.emulator.imgwire import ImgwireConfig
from tests.emulator_delivery.support import IMAGEKIT_KEY, IMGWIRE_KEY

DeliveryFactory = Callable[..., Awaitable[RunningEmulator]]


@pytest.fixture
async def delivery_factory() -> AsyncIterator[DeliveryFactory]:
    """``await delivery_factory(imagekit=..., **FaultConfig fields)``: keys are enforced."""
    async with AsyncExitStack() as stack:

        async def start(
            imgwire: ImgwireConfig | None = None,
            imagekit: ImagekitConfig | None = None,
            **faults: Any,
        ) -> RunningEmulator:
            faults.setdefault("processing_s", 0.05)
            return await stack.enter_async_context(
                running_emulator(
                    EmulatorConfig(faults=FaultConfig(**faults)),
                    imgwire_config=imgwire or ImgwireConfig(api_key=IMGWIRE_KEY),
                    imagekit_config=imagekit or ImagekitConfig(private_key=IMAGEKIT_KEY),
                )
            )

        yield start


@pytest.fixture
async def delivery_emulator(delivery_factory: DeliveryFactory) -> RunningEmulator:
    return await delivery_factory()
