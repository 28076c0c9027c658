"""Waiting for a project: tolerant of hiccups, bounded by a deadline, cancellable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bridge.imagen import ImagenError, ImagenTimeoutError, Status, wait_until_done

FAST = {"initial": 0.01, "factor": 1.5, "max_interval": 0.05}


def sequence(*steps: str | ImagenError) -> tuple[Callable[[], Awaitable[Status]], list[int]]:
    """A fetch that walks through ``steps`` and then repeats the last one."""
    calls = [0]

    async def fetch() -> Status:
        step = steps[min(calls[0], len(steps) - 1)]
        calls[0] += 1
        if isinstance(step, ImagenError):
            raise step
        return Status(status=step)

    return fetch, calls


async def test_polls_until_a_terminal_status_in_any_casing() -> None:
    fetch, calls = sequence("Pending", "IN PROGRESS", "in progress", " COMPLETED ")
    seen: list[str] = []
    final = await wait_until_done(
        fetch, timeout=5, on_status=lambda s: seen.append(s.status), **FAST
    )
    assert final.is_completed
    assert seen == ["Pending", "IN PROGRESS", "in progress", " COMPLETED "]
    assert calls[0] == 4


async def test_a_failed_project_is_returned_for_the_caller_to_judge() -> None:
    fetch, _ = sequence("Pending", "FAILED")
    assert (await wait_until_done(fetch, timeout=5, **FAST)).is_failed


async def test_transient_poll_errors_are_survived(caplog: pytest.LogCaptureFixture) -> None:
    hiccup = ImagenError("Imagen GET ... failed with HTTP 503: busy", status=503, retryable=True)
    fetch, calls = sequence(hiccup, hiccup, "Completed")
    assert (await wait_until_done(fetch, timeout=5, **FAST)).is_completed
    assert calls[0] == 3
    assert caplog.text.count("Status check failed, will check again") == 2


async def test_errors_that_cannot_heal_end_the_wait() -> None:
    fetch, calls = sequence("Pending", ImagenError("HTTP 404", status=404, retryable=False))
    with pytest.raises(ImagenError, match="HTTP 404"):
        await wait_until_done(fetch, timeout=5, **FAST)
    assert calls[0] == 2


async def test_the_deadline_names_the_last_status() -> None:
    fetch, _ = sequence("In Progress")
    with pytest.raises(ImagenTimeoutError) as caught:
        await wait_until_done(fetch, timeout=0.2, **FAST)
    assert "last status was 'In Progress'" in str(caught.value)
    assert caught.value.retryable is True


async def test_the_deadline_also_bounds_a_hanging_poll() -> None:
    async def hang() -> Status:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    with pytest.raises(ImagenTimeoutError, match="no status was received"):
        await asyncio.wait_for(wait_until_done(hang, timeout=0.2, **FAST), timeout=5)


async def test_cancellation_propagates_into_the_poll() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def fetch() -> Status:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    task = asyncio.create_task(wait_until_done(fetch, timeout=60, **FAST))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


async def test_a_nonsense_timeout_is_refused() -> None:
    fetch, _ = sequence("Completed")
    with pytest.raises(ValueError, match="positive"):
        await wait_until_done(fetch, timeout=0)
