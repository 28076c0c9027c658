"""Helper processes that never outlive the bridge: started at a lower priority, and ended as
soon as their parent is gone (even after a ``kill -9``), so no orphan holds its files.

A leaf module (imports nothing of the bridge): the server's merge worker and the engine's
merge process both start with :func:`follow_parent`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
#: Nice increment: requests are answered first, merges take what is left.
WORKER_NICE = 10


def follow_parent() -> None:
    """Process-pool initializer: lower priority, and die with the parent.

    On Linux the kernel does it (``PR_SET_PDEATHSIG``), so the worker stays single-threaded
    and may fork mergers of its own; elsewhere a watcher thread does.
    """
    if hasattr(os, "nice"):
        os.nice(WORKER_NICE)
    parent = os.getppid()
    if _kernel_kills_with_parent():
        if os.getppid() != parent:  # the parent died before the kernel was told
            os._exit(0)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)  # work cut short here is like a crash: the journal copes

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _kernel_kills_with_parent() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
