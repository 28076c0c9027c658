"""``imagen-bridge emulator``: loopback only, fault precedence, prints its URL, Ctrl-C stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.emulator.command import fault_config
from bridge.emulator.faults import FaultConfig
from tests.conftest import EmulatorFactory


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com", "::"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    result = CliRunner().invoke(app, ["emulator", "--host", host])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_bad_fault_settings_are_clear_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["emulator", "--rate-500", "1.5"])
    assert result.exit_code == 2 and "rate_500" in result.output
    bad = tmp_path / "faults.toml"
    bad.write_text("rate_429 = 'lots'\n")
    result = CliRunner().invoke(app, ["emulator", "--fault-config", str(bad)])
    assert result.exit_code == 2 and "rate_429" in result.output
    result = CliRunner().invoke(app, ["emulator", "--envelope", "xml"])
    assert result.exit_code == 2 and "envelope" in result.output


def test_fault_precedence_env_file_flags(tmp_path: Path) -> None:
    config = tmp_path / "faults.toml"
    config.write_text("latency_ms = 20\nrate_503 = 0.25\n")
    environ = {"IMAGEN_EMULATOR_FAULT_LATENCY_MS": "5", "IMAGEN_EMULATOR_FAULT_SEED": "7"}
    faults = fault_config(environ, config, {"rate_503": 0.5, "fail_files": frozenset({"a.NEF"})})
    assert faults == FaultConfig(
        seed=7, latency_ms=20, rate_503=0.5, fail_files=frozenset({"a.NEF"})
    )


async def test_injected_faults_reach_the_api(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(rate_429=1.0, retry_after_s=3))
    async with httpx.AsyncClient(base_url=emulator.base_url) as client:
        response = await client.get("/profiles", headers={"x-api-key": "k"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert "message" in response.json()["error"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_serves_until_ctrl_c(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    command = [sys.executable, "-c", "from bridge.cli import main; main()", "emulator",
               "--port", "0", "--api-key", "cli-key", "--storage-dir", store]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Imagen emulator listening on http://127.0.0.1:"), line
        base_url = line.split()[-1]
        response = httpx.get(f"{base_url}/profiles", headers={"x-api-key": "cli-key"})
        assert response.status_code == 200
        assert httpx.get(f"{base_url}/profiles", headers={"x-api-key": "no"}).status_code == 401
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Emulator stopped." in out
    assert "cli-key" not in out + err
    assert (tmp_path / "store").is_dir()


def test_an_access_log_that_cannot_be_opened_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "no such folder" / "access.log"
    result = CliRunner().invoke(app, ["emulator", "--port", "0", "--access-log", str(target)])
    assert result.exit_code == 2
    assert f"--access-log {target} cannot be opened" in " ".join(result.stderr.split())


def test_a_port_in_use_fails_with_exit_1_naming_it() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["emulator", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
