"""``imagen-bridge serve`` as a real process: server.json, one server per data dir, a clean
stop on SIGTERM and SIGINT, and unfinished jobs picked up by the next start."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.jobs.helpers import make_photos

CLI = Path(sys.executable).parent / "imagen-bridge"
STARTUP_LIMIT_S = 60.0

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def _config() -> Path:
    return Path(os.environ["IMAGEN_BRIDGE_CONFIG_DIR"])


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CLI), "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait_for_server_file(process: subprocess.Popen[str]) -> dict[str, Any]:
    path = _config() / "server.json"
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            if data["pid"] == process.pid:
                return data
        time.sleep(0.05)
    pytest.fail("serve did not write server.json")


@pytest.fixture
def serving() -> Iterator[subprocess.Popen[str]]:
    process = _start("--port", "0", env={"IMAGEN_EMULATOR_FAULT_PROCESSING_S": "30"})
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=STARTUP_LIMIT_S)  # its merge worker must not hold the pipes


def _client(info: dict[str, Any]) -> httpx.Client:
    token = (_config() / "token").read_text().strip()
    return httpx.Client(base_url=info["url"], headers={"Authorization": f"Bearer {token}"})


def test_serve_lifecycle(serving: subprocess.Popen[str], tmp_path: Path) -> None:
    info = _wait_for_server_file(serving)
    assert info["url"] == f"http://127.0.0.1:{info['port']}/v1" and info["port"] > 0
    assert info["api_version"] == 1 and info["version"] and info["started_at"].endswith("Z")
    assert stat.S_IMODE((_config() / "token").stat().st_mode) == 0o600

    with _client(info) as client:
        health = client.get("/health").json()
        assert health["pid"] == serving.pid and health["backend"] == "emulator"
        paths = make_photos(tmp_path, ["IMG_1.CR2", "Jörg 2.NEF"])
        job = client.post(
            "/jobs", json={"photos": [{"path": str(p)} for p in paths], "profile_key": 5700}
        ).json()
        assert job["state"] in ("queued", "running")

    second = _start("--port", "0")
    _, err = second.communicate(timeout=STARTUP_LIMIT_S)
    assert second.returncode == 2
    assert "already running" in err and f"pid {serving.pid}" in err and info["url"] in err
    assert json.loads((_config() / "server.json").read_text())["pid"] == serving.pid

    serving.send_signal(signal.SIGTERM)
    _, err = serving.communicate(timeout=STARTUP_LIMIT_S)
    assert serving.returncode == 0, err
    assert not (_config() / "server.json").exists()
    log = (Path(os.environ["IMAGEN_BRIDGE_DATA_DIR"]) / "server.log").read_text()
    assert "stopped" in log and (_config() / "token").read_text().strip() not in log

    again = _start("--port", "0", env={"IMAGEN_EMULATOR_FAULT_PROCESSING_S": "0.2"})
    try:
        info = _wait_for_server_file(again)
        with _client(info) as client:
            view = client.get(f"/jobs/{job['id']}").json()
            while view["state"] in ("queued", "running"):
                view = client.get(
                    f"/jobs/{job['id']}", params={"since": view["revision"], "wait": 30},
                    timeout=40,
                ).json()  # fmt: skip
            assert view["state"] == "done" and view["counts"]["ready"] == 2
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=STARTUP_LIMIT_S)
        assert again.returncode == 130
        assert not (_config() / "server.json").exists()
    finally:
        if again.poll() is None:
            again.kill()
            again.communicate(timeout=STARTUP_LIMIT_S)


def test_a_taken_port_is_a_clear_error(serving: subprocess.Popen[str]) -> None:
    info = _wait_for_server_file(serving)
    other_data = {"IMAGEN_BRIDGE_DATA_DIR": str(Path(os.environ["IMAGEN_BRIDGE_DATA_DIR"]) / "x")}
    clash = _start("--port", str(info["port"]), env=other_data)
    _, err = clash.communicate(timeout=STARTUP_LIMIT_S)
    assert clash.returncode == 2
    assert f"cannot listen on 127.0.0.1:{info['port']}" in err
    assert json.loads((_config() / "server.json").read_text())["pid"] == serving.pid


def test_a_killed_server_leaves_no_merge_worker_behind(serving: subprocess.Popen[str]) -> None:
    _wait_for_server_file(serving)
    children = psutil.Process(serving.pid).children(recursive=True)
    assert any("multiprocessing" in " ".join(c.cmdline()) for c in children)
    serving.kill()
    _, alive = psutil.wait_procs(children, timeout=STARTUP_LIMIT_S)
    assert alive == []
