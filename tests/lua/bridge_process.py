"""A real ``imagen-bridge serve`` in its own process, on loopback, with the embedded emulator.

Config and data dirs are the test's own; port 0, read back from ``<config dir>/server.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

START_LIMIT_S = 60.0
SERVE = "from bridge.cli import main; main()"
KEY_PREFIXES = ("IMAGEN_", "IMGWIRE_", "IMAGEKIT_")


@dataclass
class Bridge:
    config_dir: Path
    data_dir: Path
    processing_s: float = 0.3
    env: dict[str, str] = field(default_factory=dict)  # more settings, e.g. emulator faults
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    token: str = ""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data_dir.parent / "bridge-stderr.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        # No Imagen or delivery keys of the machine's: the embedded emulators stand in.
        env = {k: v for k, v in os.environ.items() if not k.startswith(KEY_PREFIXES)}
        env.update(
            IMAGEN_BRIDGE_CONFIG_DIR=str(self.config_dir),
            IMAGEN_BRIDGE_DATA_DIR=str(self.data_dir),
            IMAGEN_EMULATOR_FAULT_PROCESSING_S=str(self.processing_s),
        )
        env.update(self.env)
        server_json = self.config_dir / "server.json"
        server_json.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from bridge.cli import main; main()",
                    "serve",
                    "--port",
                    "0",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_LIMIT_S
        while not server_json.is_file():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"imagen-bridge serve did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        while True:
            try:
                self.port = json.loads(server_json.read_text("utf-8"))["port"]
                break
            except (ValueError, KeyError):  # being written
                time.sleep(0.05)
        self.token = (self.config_dir / "token").read_text("ascii").strip()

    def stop(self) -> None:
        """A clean stop (SIGTERM): the bridge records what was in flight."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            self.url + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
            trust_env=False,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def wait_job(self, job_id: str) -> dict[str, Any]:
        """Long-polls until the job has ended."""
        job = self.api("GET", f"/jobs/{job_id}")
        while job["state"] not in ("done", "failed", "canceled"):
            job = self.api("GET", f"/jobs/{job_id}", params={"since": job["revision"], "wait": 10})
        return job  # type: ignore[no-any-return]
