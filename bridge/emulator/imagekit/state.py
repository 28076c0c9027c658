"""What every ImageKit route reads: its config, the shared faults, the library, its folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bridge.emulator.faults import Faults
from bridge.emulator.imagekit.config import ImagekitConfig
from bridge.emulator.imagekit.library import MediaLibrary


@dataclass
class ImagekitState:
    config: ImagekitConfig
    faults: Faults
    root: Path
    library: MediaLibrary = field(default_factory=MediaLibrary)


STATE = web.AppKey("imagekit_state", ImagekitState)


def state_of(request: web.Request) -> ImagekitState:
    return request.app[STATE]
