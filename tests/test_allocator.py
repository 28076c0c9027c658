"""The malloc arena cap, observed in glibc's own account of its heaps (``malloc_info``).

Each case runs in a fresh interpreter: the cap only works before threads allocate, and a
test process has long had threads of its own.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc arenas are glibc's",
)

# Six threads, each allocating blocks that go to malloc (bigger than pymalloc's 512 bytes,
# smaller than glibc's mmap threshold), all alive at once; then glibc lists its heaps.
_SCRIPT = """
import ctypes, sys, threading
from bridge.allocator import limit_arenas
if sys.argv[2] == "limit":
    limit_arenas()
barrier = threading.Barrier(6)
def work():
    blocks = [bytearray(4000) for _ in range(50)]
    barrier.wait()
    del blocks
threads = [threading.Thread(target=work) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
stream = libc.fopen(sys.argv[1].encode(), b"w")
libc.malloc_info(0, stream)
libc.fclose(stream)
"""


def heaps(tmp_path: Path, mode: str, **env: str) -> int:
    report = tmp_path / f"{mode}.xml"
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(report), mode], check=True, env=environ, timeout=60
    )
    return report.read_text().count("<heap nr=")


def test_threads_share_two_arenas_once_capped(tmp_path: Path) -> None:
    assert heaps(tmp_path, "free") > 2  # glibc's default: an arena per thread, here
    assert heaps(tmp_path, "limit") <= 2


def test_a_malloc_arena_max_the_user_set_is_left_alone(tmp_path: Path) -> None:
    assert heaps(tmp_path, "limit", MALLOC_ARENA_MAX="4") == 4
