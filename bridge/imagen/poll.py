"""Waiting for an edit, export or Smart Editing project to finish.

Backoff with jitter on the monotonic clock (a wall-clock jump neither ends nor
stretches the wait), transient poll failures tolerated, an overall deadline
that also bounds a hanging poll, and cancellation left to propagate.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from bridge.imagen.errors import ImagenError, ImagenTimeoutError
from bridge.imagen.models import Status

_log = logging.getLogger(__name__)


async def wait_until_done(
    fetch: Callable[[], Awaitable[Status]],
    *,
    timeout: float,  # noqa: ASYNC109 - a deadline for many calls, documented in INTERFACES
    initial: float = 0.5,
    factor: float = 1.5,
    max_interval: float = 10.0,
    on_status: Callable[[Status], None] | None = None,
    logger: logging.Logger | None = None,
) -> Status:
    """Poll ``fetch`` until the status is terminal; return that status.

    A ``Failed`` status is returned, not raised: the caller decides what a
    failure means (some files may still have outputs). Retryable ImagenErrors
    from ``fetch`` are logged and polling goes on; others are raised. After
    ``timeout`` seconds, ImagenTimeoutError (``retryable``: the project may
    still finish). ``on_status`` sees every status fetched.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    log = logger or _log
    deadline = time.monotonic() + timeout
    interval = initial
    last_status: Status | None = None
    last_error: ImagenError | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            async with asyncio.timeout(remaining) as limit:
                status = await fetch()
        except TimeoutError:
            if limit.expired():
                break
            raise
        except ImagenError as exc:
            if not exc.retryable:
                raise
            last_error = exc
            log.warning("Status check failed, will check again: %s", exc.message)
        else:
            last_status = status
            if on_status is not None:
                on_status(status)
            if status.is_terminal:
                return status
        pause = interval * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
        await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        interval = min(interval * factor, max_interval)
    if last_status is not None:
        seen = f"the last status was {last_status.status!r}"
    elif last_error is not None:
        seen = f"the last check failed: {last_error.message}"
    else:
        seen = "no status was received"
    raise ImagenTimeoutError(
        f"Gave up waiting for Imagen after {timeout:g} s; {seen}", retryable=True
    )
