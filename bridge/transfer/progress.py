"""Byte-level progress, reported often enough to draw a bar and rarely enough not to flood."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

PROGRESS_STEP = 256 * 1024


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` bytes of one file. ``done`` can drop when a failed try restarts.

    ``total`` is 0 while a download's size is not known yet.
    """

    kind: Literal["upload", "download"]
    name: str
    done: int
    total: int


ProgressCallback = Callable[[ProgressEvent], None]


class ByteCounter:
    """Sums the bytes moved by the parallel pieces ("slots") of one file and reports them.

    An event goes out at :meth:`start`, whenever the sum moved ``step`` bytes
    past the last event, when it went backwards (a retry restarted a piece),
    when it reaches the total, and at :meth:`finish`.
    """

    def __init__(
        self,
        callback: ProgressCallback | None,
        kind: Literal["upload", "download"],
        name: str,
        total: int,
        *,
        step: int = PROGRESS_STEP,
    ) -> None:
        self._callback = callback
        self._kind: Literal["upload", "download"] = kind
        self._name = name
        self.total = total
        self._step = step
        self._slots: dict[int, int] = {}
        self.done = 0
        self._last: ProgressEvent | None = None

    def set(self, slot: int, value: int) -> None:
        """Slot ``slot`` has now moved ``value`` bytes in all (0 restarts it)."""
        self.done += value - self._slots.get(slot, 0)
        self._slots[slot] = value
        last = self._last
        moved = self.done - (last.done if last else 0)
        reached_end = 0 < self.total <= self.done
        if last is None or moved < 0 or moved >= self._step or (moved > 0 and reached_end):
            self._report()

    def add(self, slot: int, count: int) -> None:
        self.set(slot, self._slots.get(slot, 0) + count)

    def start(self) -> None:
        """Announce the file before any byte moves."""
        self._report()

    def finish(self) -> None:
        """Report completion; a total the server never sent becomes ``done``."""
        if self.total <= 0:
            self.total = self.done
        self._report()

    def _report(self) -> None:
        event = ProgressEvent(self._kind, self._name, self.done, self.total)
        if self._callback is not None and event != self._last:
            self._last = event
            self._callback(event)
