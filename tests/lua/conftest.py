"""The end-to-end fixtures (a real bridge, the installed plugin, a shoot) for every module here."""

from tests.lua.test_end_to_end import slow_world, world

__all__ = ["slow_world", "world"]
