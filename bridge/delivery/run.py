"""Delivering many files to one target: checks first, then bounded concurrency, per-file results.

Every file is checked before the first byte goes anywhere, so a bad tag or one oversized
file stops the whole delivery with all the problems listed (DeliveryRefused). Then files go
a few at a time; one file's failure is that file's result, not the run's, except a rejected
key, which stops everything (it would fail every file the same way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from bridge.delivery.errors import DeliveryAuthError, DeliveryError, DeliveryRefused
from bridge.delivery.items import DeliveryItem
from bridge.delivery.results import DeliveryResult, Target
from bridge.transfer import ProgressCallback, ProgressEvent


class DeliveryClient(Protocol):
    @property
    def target(self) -> Target: ...

    def check(self, item: DeliveryItem) -> list[str]: ...

    def destination(self, item: DeliveryItem) -> str | None:
        """Where ``item`` will be stored, when the target has paths (ImageKit)."""
        ...

    async def deliver(
        self, item: DeliveryItem, *, on_progress: ProgressCallback | None = None
    ) -> DeliveryResult: ...


@dataclass(frozen=True)
class DeliveryEvent:
    """``bytes`` while a file uploads; ``finished`` with its result once it is final."""

    kind: Literal["bytes", "finished"]
    name: str
    done: int = 0
    total: int = 0
    result: DeliveryResult | None = None


DeliveryEvents = Callable[[DeliveryEvent], None]


def check_all(client: DeliveryClient, items: Sequence[DeliveryItem]) -> None:
    """Raise DeliveryRefused listing every problem of every item; nothing is sent."""
    problems: list[str] = []
    seen: set[str] = set()
    sources: dict[Path, DeliveryItem] = {}
    destinations: dict[str, DeliveryItem] = {}
    for item in items:
        found = client.check(item)
        for problem in found:
            if problem not in seen:
                seen.add(problem)
                problems.append(problem)
        if found:
            continue
        source = item.path.resolve()
        if source in sources:
            problems.append(f"{item.path}: given twice (also as {sources[source].path})")
            continue
        sources[source] = item
        where = client.destination(item)
        if where is not None and where in destinations:
            problems.append(
                f"{destinations[where].path} and {item.path} would both be stored as {where}"
            )
        elif where is not None:
            destinations[where] = item
    if not items:
        problems.append("nothing to deliver: no files given")
    if problems:
        raise DeliveryRefused(problems)


async def deliver_all(
    client: DeliveryClient,
    items: Sequence[DeliveryItem],
    *,
    concurrency: int = 4,
    on_event: DeliveryEvents | None = None,
) -> list[DeliveryResult]:
    """Check everything, then deliver each item; results in the order of ``items``."""
    check_all(client, items)
    slots = asyncio.Semaphore(max(1, concurrency))

    def progress(event: ProgressEvent) -> None:
        if on_event is not None:
            on_event(DeliveryEvent("bytes", event.name, event.done, event.total))

    async def one(item: DeliveryItem) -> DeliveryResult:
        async with slots:
            try:
                result = await client.deliver(item, on_progress=progress)
            except DeliveryAuthError:
                raise
            except DeliveryError as error:
                result = DeliveryResult(
                    target=client.target,
                    source=str(item.path),
                    ok=False,
                    status="failed",
                    file_name=item.path.name,
                    metadata=item.metadata(),
                    error=error.message,
                )
        if on_event is not None:
            on_event(DeliveryEvent("finished", item.path.name, result=result))
        return result

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(item)) for item in items]
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None  # a rejected key: the others were cancelled
    return [task.result() for task in tasks]
