"""Tiny deterministic pictures derived from a digest: the pixels of exports, DNGs and I2I JPEGs.

A sky-to-ground gradient with a sun whose colours and position come from the hash, brightened
or darkened by the edit's exposure so a different edit gives a visibly different picture.
"""

from __future__ import annotations

import hashlib

from bridge.emulator.outputs.jpeg_encoder import Pixel

PREVIEW_WIDTH, PREVIEW_HEIGHT = 64, 48


def _clamp(value: float) -> int:
    return max(0, min(255, round(value)))


def render_preview(
    digest: str, *, exposure: float = 0.0, width: int = PREVIEW_WIDTH, height: int = PREVIEW_HEIGHT
) -> list[Pixel]:
    seed = hashlib.sha256(b"preview|" + digest.encode()).digest()
    top = (seed[0], seed[1], seed[2])
    bottom = (seed[3], seed[4], seed[5])
    sun_x, sun_y = seed[6] % width, seed[7] % (height // 2)
    radius = 4 + seed[8] % 8
    gain = 2.0**exposure
    pixels: list[Pixel] = []
    for y in range(height):
        mix = y / (height - 1)
        base = [top[c] * (1 - mix) + bottom[c] * mix for c in range(3)]
        for x in range(width):
            if (x - sun_x) ** 2 + (y - sun_y) ** 2 <= radius * radius:
                colour = (250.0, 235.0, 180.0)
            else:
                colour = (base[0], base[1], base[2])
            pixels.append(
                (_clamp(colour[0] * gain), _clamp(colour[1] * gain), _clamp(colour[2] * gain))
            )
    return pixels
