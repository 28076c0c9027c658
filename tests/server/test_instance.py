"""The data-dir lock and server.json, in-process (``serve`` itself: test_serve.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.server.instance import (
    AlreadyRunning,
    InstanceLock,
    ServerInfo,
    remove_server_file,
    write_server_file,
)


def test_a_second_holder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire()
    first.describe("pid 1234, http://127.0.0.1:8717/v1")
    code = (
        "import sys; from pathlib import Path; from bridge.server.instance import InstanceLock;"
        "InstanceLock(Path(sys.argv[1])).acquire()"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert done.returncode != 0
    assert b"pid 1234, http://127.0.0.1:8717/v1" in done.stderr
    first.release()
    again = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert again.returncode == 0, again.stderr


def test_the_lock_is_per_open_file(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire()
    with pytest.raises(AlreadyRunning, match=str(tmp_path)):
        InstanceLock(tmp_path).acquire()
    first.release()
    second = InstanceLock(tmp_path)
    second.acquire()
    second.release()


def test_server_file_is_written_whole_and_removed_only_by_its_writer(tmp_path: Path) -> None:
    path = tmp_path / "config" / "server.json"
    info = ServerInfo.now(8717)
    write_server_file(info, path)
    data = json.loads(path.read_text())
    assert data == {"url": "http://127.0.0.1:8717/v1", "port": 8717, "pid": info.pid,
                    "version": info.version, "api_version": 1,
                    "started_at": info.started_at}  # fmt: skip
    assert data["started_at"].endswith("Z")
    other = ServerInfo(**{**data, "pid": info.pid + 1})
    remove_server_file(other, path)
    assert path.exists()
    remove_server_file(info, path)
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir()] == []
