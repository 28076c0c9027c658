"""``async with`` for the bridge's clients: one definition of the enter/exit pair.

A leaf module (imports nothing of the bridge), so every layer may use it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """``async with x:`` returns ``x`` and ends with ``await x.aclose()``, error or not."""

    async def aclose(self) -> None:
        """Release what the object holds (connections, helper processes)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
