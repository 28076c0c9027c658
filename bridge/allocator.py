"""The C allocator, tuned once at start for a process that runs work on many threads.

glibc gives threads that allocate arenas of their own (up to eight per core), and memory
freed in one arena is seldom handed back to the system. The bridge runs store reads, sidecar
merges and file checks on worker threads, so a 20,000-photo ``edit`` grew by about 16 MB in
its last minute alone (40 pages of merges, each on fresh threads), to 1.41x a 500-photo one
in a sampled run; with two arenas ``bench/merge.py`` measures 1.15x (README). Python threads
take turns on the interpreter lock: an A/B of ``merge`` showed no cost (README).

A leaf module (imports nothing of the bridge).
"""

from __future__ import annotations

import ctypes
import os
import sys

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's <malloc.h>


def limit_arenas() -> None:
    """Cap glibc's malloc arenas at :data:`ARENAS`; call before any thread starts.

    A ``MALLOC_ARENA_MAX`` the user set wins; elsewhere than glibc on Linux, nothing to do.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to ask, or one without mallopt
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mallopt(_M_ARENA_MAX, ARENAS)
